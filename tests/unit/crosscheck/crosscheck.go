// Command crosscheck compares sekisho's lib/note and lib/merkle (driven
// through crosscheck_notetool) with golang.org/x/mod/sumdb/note and
// golang.org/x/mod/sumdb/tlog, an independent implementation of the same
// formats (Debian: golang-golang-x-mod-dev).
//
// Usage: go run crosscheck.go /path/to/crosscheck_notetool
// (GOPATH mode: GO111MODULE=off GOPATH=/usr/share/gocode).
//
// It prints one line per check and "N passed, N failed" at the end, and
// exits non-zero if any check failed.
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const proofMax = 40 // every proof of every tree up to this many records

var (
	tool           string
	passed, failed int
)

func check(name string, err error) {
	if err != nil {
		failed++
		fmt.Printf("FAIL %s: %v\n", name, err)
		return
	}
	passed++
	fmt.Printf("ok   %s\n", name)
}

// run runs the C tool with stdin and returns its stdout; a non-zero exit
// is an error carrying stderr.
func run(stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command(tool, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %v: %v: %s", tool, args[0], err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

func record(i int64) []byte {
	return []byte(fmt.Sprintf("sekisho crosscheck record %d\n", i))
}

// tree holds the tlog stored hashes of the first n records.
type tree struct{ stored []tlog.Hash }

func (t *tree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(t.stored)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = t.stored[x]
	}
	return out, nil
}

func newTree(n int64) *tree {
	t := &tree{}
	for i := int64(0); i < n; i++ {
		h, err := tlog.StoredHashes(i, record(i), t)
		if err != nil {
			panic(err)
		}
		t.stored = append(t.stored, h...)
	}
	return t
}

func (t *tree) root(n int64) tlog.Hash {
	if n == 0 {
		return sha256.Sum256(nil) // tlog says all-zero; RFC 9162 says SHA-256("")
	}
	h, err := tlog.TreeHash(n, t)
	if err != nil {
		panic(err)
	}
	return h
}

func splitKeys(out []byte) (skey, vkey string, err error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		return "", "", fmt.Errorf("genkey printed %d lines", len(lines))
	}
	return lines[0], lines[1], nil
}

// C keys and C signatures, checked by Go.
func cToGo() {
	out, err := run(nil, "genkey", "sekisho.test/c-key")
	if err != nil {
		check("C genkey", err)
		return
	}
	skey, vkey, err := splitKeys(out)
	check("C genkey", err)
	signer, err := note.NewSigner(skey)
	check("Go accepts C signer key", err)
	verifier, err := note.NewVerifier(vkey)
	check("Go accepts C verifier key", err)
	if err != nil || signer == nil {
		return
	}
	if signer.KeyHash() != verifier.KeyHash() {
		check("key ids agree", fmt.Errorf("%08x != %08x", signer.KeyHash(), verifier.KeyHash()))
	}

	text := "audit checkpoint 関所\n\nwith a blank line\n"
	signed, err := run([]byte(text), "sign", skey)
	check("C signs a note", err)
	n, err := note.Open(signed, note.VerifierList(verifier))
	if err == nil && n.Text != text {
		err = fmt.Errorf("text %q", n.Text)
	}
	check("Go opens the C-signed note", err)
	goSigned, err := note.Sign(&note.Note{Text: text}, signer)
	if err == nil && !bytes.Equal(goSigned, signed) {
		err = fmt.Errorf("Go signs the same text with the same key differently:\n%s\n%s", goSigned, signed)
	}
	check("C and Go signatures identical (deterministic Ed25519)", err)

	for _, size := range []int64{0, 1, 2, 7, 8, 9, 100, 1000} {
		cp, err := run(nil, "checkpoint", skey, "sekisho.test/c-key", strconv.FormatInt(size, 10))
		if err != nil {
			check(fmt.Sprintf("C checkpoint %d", size), err)
			continue
		}
		n, err := note.Open(cp, note.VerifierList(verifier))
		if err == nil {
			want := newTree(size).root(size)
			body := fmt.Sprintf("sekisho.test/c-key\n%d\n%s\n", size, base64.StdEncoding.EncodeToString(want[:]))
			if n.Text != body {
				err = fmt.Errorf("checkpoint text %q, tlog says %q", n.Text, body)
			}
		}
		check(fmt.Sprintf("Go opens C checkpoint of %d records, root matches tlog", size), err)
	}
}

// Go keys and Go signatures, checked by C.
func goToC() {
	skey, vkey, err := note.GenerateKey(rand.Reader, "sekisho.test/go-key")
	check("Go GenerateKey", err)
	signer, err := note.NewSigner(skey)
	if err != nil {
		check("Go NewSigner", err)
		return
	}

	text := "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	check("Go signs a note", err)
	out, err := run(signed, "open", vkey)
	if err == nil && string(out) != text {
		err = fmt.Errorf("C opened text %q", out)
	}
	check("C opens the Go-signed note", err)
	bad := bytes.Replace(signed, []byte("cryptography"), []byte("cryptographY"), 1)
	if _, err := run(bad, "open", vkey); err == nil {
		check("C refuses the altered Go note", fmt.Errorf("accepted"))
	} else {
		check("C refuses the altered Go note", nil)
	}
	cSigned, err := run([]byte(text), "sign", skey)
	if err == nil && !bytes.Equal(cSigned, signed) {
		err = fmt.Errorf("C signs differently with the Go key:\n%s\n%s", cSigned, signed)
	}
	check("C signs with the Go key, identical bytes", err)

	// A checkpoint signed in Go, plus a note signature of another key.
	other, _, _ := note.GenerateKey(rand.Reader, "witness.example/w1")
	otherSigner, _ := note.NewSigner(other)
	t := newTree(300)
	for _, size := range []int64{1, 5, 64, 300} {
		root := t.root(size)
		body := fmt.Sprintf("sekisho.test/go-key\n%d\n%s\n", size, base64.StdEncoding.EncodeToString(root[:]))
		cp, err := note.Sign(&note.Note{Text: body}, otherSigner, signer)
		if err != nil {
			check("Go signs checkpoint", err)
			continue
		}
		out, err := run(cp, "open-checkpoint", vkey, "sekisho.test/go-key")
		want := fmt.Sprintf("%d %s\n", size, hex.EncodeToString(root[:]))
		if err == nil && string(out) != want {
			err = fmt.Errorf("C read %q, want %q", out, want)
		}
		check(fmt.Sprintf("C opens Go checkpoint of %d records", size), err)
		cRoot, err := run(nil, "root", strconv.FormatInt(size, 10))
		if err == nil && strings.TrimSpace(string(cRoot)) != hex.EncodeToString(root[:]) {
			err = fmt.Errorf("C root %s, tlog root %x", cRoot, root)
		}
		check(fmt.Sprintf("C and tlog roots of %d records agree", size), err)
	}
}

func parseProof(s string) (tlog.RecordProof, error) {
	var p tlog.RecordProof
	if s == "" {
		return p, nil
	}
	for _, h := range strings.Split(s, ",") {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("bad hash %q", h)
		}
		var x tlog.Hash
		copy(x[:], b)
		p = append(p, x)
	}
	return p, nil
}

func formatProof(kind string, m, n int64, p []tlog.Hash) string {
	hs := make([]string, len(p))
	for i, h := range p {
		hs[i] = hex.EncodeToString(h[:])
	}
	return fmt.Sprintf("%s %d %d %s\n", kind, m, n, strings.Join(hs, ","))
}

// Every inclusion and consistency proof both ways.
func proofs() {
	t := newTree(proofMax)
	out, err := run(nil, "proofs", strconv.Itoa(proofMax))
	if err != nil {
		check("C proofs", err)
		return
	}
	var goLines, badLines bytes.Buffer
	var nIncl, nCons, mismatches int
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 4)
		if len(f) != 4 {
			check("C proof line", fmt.Errorf("%q", sc.Text()))
			return
		}
		m, _ := strconv.ParseInt(f[1], 10, 64)
		n, _ := strconv.ParseInt(f[2], 10, 64)
		p, err := parseProof(f[3])
		if err != nil {
			check("C proof line", err)
			return
		}
		var goP []tlog.Hash
		switch f[0] {
		case "i":
			nIncl++
			if err := tlog.CheckRecord(p, n, t.root(n), m, tlog.RecordHash(record(m))); err != nil {
				mismatches++
				fmt.Printf("tlog refuses C inclusion proof %d in %d: %v\n", m, n, err)
			}
			goP, err = tlog.ProveRecord(n, m, t)
		case "c":
			nCons++
			if err := tlog.CheckTree(tlog.TreeProof(p), n, t.root(n), m, t.root(m)); err != nil {
				mismatches++
				fmt.Printf("tlog refuses C consistency proof %d to %d: %v\n", m, n, err)
			}
			goP, err = tlog.ProveTree(n, m, t)
		}
		if err != nil {
			mismatches++
			fmt.Printf("tlog cannot prove %s %d %d: %v\n", f[0], m, n, err)
			continue
		}
		line := formatProof(f[0], m, n, goP)
		if line != sc.Text()+"\n" {
			mismatches++
			fmt.Printf("proofs differ:\n C  %s\n Go %s", sc.Text(), line)
		}
		goLines.WriteString(line)
		// The same proof with one bit flipped (or, when empty, one
		// hash too many) must be refused by C.
		bad := append([]tlog.Hash(nil), goP...)
		if len(bad) > 0 {
			bad[len(bad)/2][int(m+n)%32] ^= 1 << uint((m+n)%8)
		} else {
			bad = append(bad, t.root(n))
		}
		badLines.WriteString(formatProof(f[0], m, n, bad))
	}
	want := proofMax * (proofMax + 1) / 2
	if nIncl != want || nCons != want {
		mismatches++
		fmt.Printf("C printed %d inclusion and %d consistency proofs, want %d each\n", nIncl, nCons, want)
	}
	var e error
	if mismatches > 0 {
		e = fmt.Errorf("%d mismatches", mismatches)
	}
	check(fmt.Sprintf("tlog verifies all %d C proofs and produces the same bytes", nIncl+nCons), e)

	out, err = run(goLines.Bytes(), "verify-proofs")
	check(fmt.Sprintf("C verifies all %d tlog proofs: %s", nIncl+nCons, strings.TrimSpace(string(out))), err)
	out, err = run(badLines.Bytes(), "verify-proofs")
	if err == nil || !strings.HasPrefix(string(out), "0 verified") {
		check("C refuses every corrupted tlog proof", fmt.Errorf("%s", out))
	} else {
		check("C refuses every corrupted tlog proof: "+strings.TrimSpace(string(out)), nil)
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: crosscheck /path/to/crosscheck_notetool")
		os.Exit(2)
	}
	tool = os.Args[1]
	cToGo()
	goToC()
	proofs()
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
