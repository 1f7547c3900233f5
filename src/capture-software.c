#include "config.h"
#include "capture.h"
int capture_software(const SoftwareQuery *q, json_t **ret) { (void)q; *ret = json_object(); return 0; }
