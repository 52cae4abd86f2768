/*
 * fuzz_register — the interface register loader on arbitrary bytes.
 *
 * Input is parsed with policy_load_buffer (the same path policy_load takes
 * after reading the file). A register that loads is then exercised: lint,
 * and a decision plus an explain for every interface it defines with a few
 * principals, so evaluation runs over whatever shapes the loader accepted.
 * Any crash, sanitizer report or leak is a finding; load errors are not.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
lint_sink(void *arg, unsigned line, const char *code, const char *msg)
{
	(void)arg;
	(void)line;
	(void)code;
	(void)msg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct policy_principal who[] = {
		{ "alice", "kikaku", "T1" },
		{ "bob", "", NULL },
		{ "u-tanaka", "kikaku", "T-HONCHO-0001" },
	};
	static const char *const names[] = { "a.pdf", "x.EXE. ", "README" };
	struct policy_exception x;
	struct policy_decision d;
	struct policy *p = NULL;
	char err[512], trace[2048];
	size_t i, j, n;

	if (policy_load_buffer("fuzz.yaml", (const char *)data, size, &p, err,
	    sizeof(err)) != 0)
		return 0;
	policy_lint(p, 1780000000, lint_sink, NULL);
	n = policy_interface_count(p);
	if (n > 64)
		n = 64;
	for (i = 0; i < n; i++) {
		const char *id = policy_interface_id(p, i);

		for (j = 0; j < 3; j++) {
			struct policy_request req = { id, names[j],
			    (uint64_t)j << 24, (unsigned)(1 + (i + j) % 3), "f" };
			struct policy_context ctx = { 1780000000 + (time_t)i *
			    3607, j ? 1780000000 - 60 : 0, j * 1000, j, &x, 1 };

			memset(&x, 0, sizeof(x));
			x.id = "EX-F";
			x.user = who[j].user;
			x.interface = id;
			x.max_class = 2;
			x.max_size = 1ull << 30;
			x.hours_from = 0;
			x.hours_to = 1440;
			x.not_before = ctx.now - 60;
			x.not_after = ctx.now + 60;
			policy_decide(p, &who[j], &req, &ctx, &d);
			policy_explain(p, &who[j], &req, &ctx, &d, trace,
			    sizeof(trace));
		}
	}
	policy_free(p);
	return 0;
}
