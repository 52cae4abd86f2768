/*
 * tus_put — a small tus 1.0 client over HTTP/2 for the upload benchmark
 * (bench/web_upload_bench.py): creation, then one PATCH with the whole
 * file, as a browser's page does, with a client certificate. It exists so
 * that the benchmark measures the broker's API path, not the overheads of
 * a general-purpose client; the benchmark runs curl beside it.
 *
 *   tus_put --port N --ca CA --cert CRT --key KEY --file F --sha256 HEX
 *           [--interface ID] [--class N]
 *
 * Prints the transfer id and the final state; exits 1 on any failure.
 * Blocking I/O, one connection, libnghttp2 in memory over OpenSSL; the file
 * is read in 1 MiB blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define BLOCK (1u << 20)

struct req {
	int32_t id;
	int status;
	int closed;
	char location[300];
	char state[32];
	/* body source */
	int fd;
	uint64_t left;
	uint8_t *buf;
	size_t have, off;
};

static SSL *ssl;

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	struct req *r = nghttp2_session_get_stream_user_data(s,
	    f->hd.stream_id);

	(void)flags;
	(void)arg;
	if (r == NULL)
		return 0;
	if (nlen == 7 && memcmp(name, ":status", 7) == 0)
		r->status = atoi((const char *)value);
	else if (nlen == 8 && memcmp(name, "location", 8) == 0 &&
	    vlen < sizeof(r->location)) {
		memcpy(r->location, value, vlen);
		r->location[vlen] = '\0';
	} else if (nlen == 15 && memcmp(name, "x-sekisho-state", 15) == 0 &&
	    vlen < sizeof(r->state)) {
		memcpy(r->state, value, vlen);
		r->state[vlen] = '\0';
	}
	return 0;
}

static int
on_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	struct req *r = nghttp2_session_get_stream_user_data(s, id);

	(void)code;
	(void)arg;
	if (r != NULL)
		r->closed = 1;
	return 0;
}

static ssize_t
body_read(nghttp2_session *s, int32_t id, uint8_t *out, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct req *r = src->ptr;
	size_t n;

	(void)s;
	(void)id;
	(void)arg;
	if (r->off == r->have && r->left > 0) {
		ssize_t got = read(r->fd, r->buf, BLOCK);

		if (got <= 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		r->have = (size_t)got;
		r->off = 0;
	}
	n = r->have - r->off;
	if (n > len)
		n = len;
	memcpy(out, r->buf + r->off, n);
	r->off += n;
	r->left -= n;
	if (r->left == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* Runs the session until r's stream is closed. */
static void
pump(nghttp2_session *s, struct req *r)
{
	static uint8_t in[1 << 16];

	while (!r->closed) {
		const uint8_t *out;
		ssize_t n;
		int got;

		while ((n = nghttp2_session_mem_send(s, &out)) > 0)
			if (SSL_write(ssl, out, (int)n) != (int)n)
				die("TLS write failed");
		if (n < 0)
			die("nghttp2: %s", nghttp2_strerror((int)n));
		if (r->closed)
			break;
		if ((got = SSL_read(ssl, in, sizeof(in))) <= 0)
			die("TLS read failed (connection closed)");
		if (nghttp2_session_mem_recv(s, in, (size_t)got) < 0)
			die("nghttp2 receive failed");
	}
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), \
	NGHTTP2_NV_FLAG_NONE }

static void
b64(const char *in, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in,
	    (int)strlen(in));
}

int
main(int argc, char **argv)
{
	const char *ca = NULL, *cert = NULL, *key = NULL, *file = NULL,
	    *sha = NULL, *iface = "IF-BENCH", *cls = "1";
	int port = 0, i, fd, sock, one = 1;
	char authority[64], origin[80], len[24], meta[1200], e[5][200];
	struct sockaddr_in sa;
	struct stat st;
	SSL_CTX *ctx;
	nghttp2_session *s;
	nghttp2_session_callbacks *cb;
	struct req create, patch;
	nghttp2_data_provider prd;

	for (i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (strcmp(k, "--port") == 0)
			port = atoi(v);
		else if (strcmp(k, "--ca") == 0)
			ca = v;
		else if (strcmp(k, "--cert") == 0)
			cert = v;
		else if (strcmp(k, "--key") == 0)
			key = v;
		else if (strcmp(k, "--file") == 0)
			file = v;
		else if (strcmp(k, "--sha256") == 0)
			sha = v;
		else if (strcmp(k, "--interface") == 0)
			iface = v;
		else if (strcmp(k, "--class") == 0)
			cls = v;
		else
			die("unknown option %s", k);
	}
	if (port <= 0 || !ca || !cert || !key || !file || !sha)
		die("usage: tus_put --port N --ca CA --cert CRT --key KEY "
		    "--file F --sha256 HEX [--interface ID] [--class N]");
	if ((fd = open(file, O_RDONLY)) < 0 || fstat(fd, &st) != 0)
		die("%s: %s", file, strerror(errno));

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x02h2",
	    3) != 0)
		die("TLS setup failed");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((sock = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket: %s", strerror(errno));
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect: %s", strerror(errno));
	if ((ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_tlsext_host_name(ssl, "localhost") != 1 ||
	    SSL_set1_host(ssl, "localhost") != 1 ||
	    SSL_set_fd(ssl, sock) != 1 || SSL_connect(ssl) != 1)
		die("TLS handshake failed");

	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	if (nghttp2_session_client_new(&s, cb, NULL) != 0)
		die("nghttp2 session");
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);

	snprintf(authority, sizeof(authority), "localhost:%d", port);
	snprintf(origin, sizeof(origin), "https://%s", authority);
	snprintf(len, sizeof(len), "%lld", (long long)st.st_size);
	b64(iface, e[0]);
	b64(cls, e[1]);
	b64("bench", e[2]);
	b64(sha, e[3]);
	b64("bench.bin", e[4]);
	snprintf(meta, sizeof(meta), "interface %s,class %s,purpose %s,"
	    "sha256 %s,filename %s", e[0], e[1], e[2], e[3], e[4]);
	{
		nghttp2_nv nv[] = { NV(":method", "POST"),
		    NV(":path", "/api/v1/uploads"), NV(":scheme", "https"),
		    NV(":authority", authority), NV("origin", origin),
		    NV("x-sekisho-request", "1"),
		    NV("tus-resumable", "1.0.0"), NV("upload-length", len),
		    NV("upload-metadata", meta) };

		memset(&create, 0, sizeof(create));
		create.id = nghttp2_submit_request(s, NULL, nv,
		    sizeof(nv) / sizeof(nv[0]), NULL, &create);
		pump(s, &create);
	}
	if (create.status != 201 || create.location[0] == '\0')
		die("creation answered %d", create.status);
	{
		nghttp2_nv nv[] = { NV(":method", "PATCH"),
		    NV(":path", create.location), NV(":scheme", "https"),
		    NV(":authority", authority), NV("origin", origin),
		    NV("x-sekisho-request", "1"),
		    NV("tus-resumable", "1.0.0"), NV("upload-offset", "0"),
		    NV("content-type", "application/offset+octet-stream") };

		memset(&patch, 0, sizeof(patch));
		patch.fd = fd;
		patch.left = (uint64_t)st.st_size;
		if ((patch.buf = malloc(BLOCK)) == NULL)
			die("out of memory");
		prd.source.ptr = &patch;
		prd.read_callback = body_read;
		patch.id = nghttp2_submit_request(s, NULL, nv,
		    sizeof(nv) / sizeof(nv[0]), &prd, &patch);
		pump(s, &patch);
	}
	if (patch.status != 204)
		die("PATCH answered %d", patch.status);
	printf("%s %s\n", create.location, patch.state);
	nghttp2_session_del(s);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(sock);
	free(patch.buf);
	close(fd);
	return 0;
}
