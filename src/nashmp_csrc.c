/* C source of the cffi extension module nashmp._nashmp_cffi: it only includes the public
 * header; the module links against libnashmp. */
#include <nashmp/nashmp.h>
#include <nashmp/nashmp_cuda.h>
