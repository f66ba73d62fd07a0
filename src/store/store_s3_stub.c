/* temporary until store_s3.c lands */
#include "store/store_impl.h"
__attribute__((weak)) int store_s3_open(const char *bucket, const char *prefix,
		  const struct store_query *q, size_t nq,
		  const struct store_opts *opts, struct store **out,
		  struct ec_err *err)
{
	(void)bucket; (void)prefix; (void)q; (void)nq; (void)opts; (void)out;
	return ec_err_set(err, EC_USAGE, "s3 not built yet");
}
