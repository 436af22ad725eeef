package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/evidence/sealedfile"
	"github.com/mvm-exchange/mvm/internal/seal"
)

// evidence get ID --name NAME [--range START-END --out FILE [--unverified]]
//
// --name picks one file of the package: by the name its author logged,
// the name get writes it under, or its SHA-256 in hex (the plaintext's
// or the stored one's). Alone, it downloads that file whole into --out
// DIR, as get does every file.
//
// --range writes the plaintext bytes START to END (inclusive, counted
// from 0; START- to the end) of that file to --out FILE, mode 0600. Only
// the whole file can be checked against its logged digest, so what a
// range proves depends on the file:
//   - sealed: every chunk the range spans is downloaded whole and opened
//     under the package key before any of its bytes is written. A chunk
//     opens only where its author's client sealed it, at its place in
//     the file, so the bytes are that author's; that they are the logged
//     file's and not another file of the package of the same size and
//     first MiB (sealedfile's version 2), only the whole file shows.
//   - clear: nothing but the whole file's digest checks it, so a range
//     is refused unless --unverified is given, and then written as the
//     server sent it and said to be unverified.

// rangeFlag is --range START-END; set reports it was given.
type rangeFlag struct {
	start, end int64 // end -1: to the end of the file
	set        bool
}

func (r *rangeFlag) String() string {
	if !r.set {
		return ""
	}
	if r.end < 0 {
		return fmt.Sprintf("%d-", r.start)
	}
	return fmt.Sprintf("%d-%d", r.start, r.end)
}

func (r *rangeFlag) Set(v string) error {
	a, b, ok := strings.Cut(v, "-")
	start, err := strconv.ParseInt(a, 10, 64)
	if !ok || err != nil || start < 0 {
		return fmt.Errorf("want START-END or START- (bytes, from 0, END included), not %q", v)
	}
	end := int64(-1)
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
			return fmt.Errorf("want START-END with END >= START, not %q", v)
		}
	}
	r.start, r.end, r.set = start, end, true
	return nil
}

// bounds returns the range's offset and length within a file of size
// bytes, or why it does not fit.
func (r *rangeFlag) bounds(size int64) (off, n int64, err error) {
	end := r.end
	if end < 0 {
		end = size - 1
	}
	if r.start >= size || end >= size || end < r.start {
		return 0, 0, fmt.Errorf("--range %s is outside the file's %d bytes (0-%d)", r, size, size-1)
	}
	return r.start, end - r.start + 1, nil
}

// pickFile returns the one file of files that name names.
func pickFile(files []*loggedFile, name string) (*loggedFile, error) {
	var hits []*loggedFile
	written := fileNames(files)
	for _, lf := range files {
		if lf.name == name || written[lf] == name || strings.EqualFold(hex.EncodeToString(lf.sum), name) ||
			(lf.plainSum != nil && strings.EqualFold(hex.EncodeToString(lf.plainSum), name)) {
			hits = append(hits, lf)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		return nil, fmt.Errorf("--name %q: the package names no such evidence file (evidence list shows them)", name)
	}
	var sums []string
	for _, lf := range hits {
		sums = append(sums, hex.EncodeToString(lf.sum))
	}
	return nil, fmt.Errorf("--name %q: %d files have that name; give one's sha256 instead: %s", name, len(hits), strings.Join(sums, ", "))
}

// getRange writes the range r of file lf to the file out.
func (e *env) getRange(ctx context.Context, c *mvmclient.Client, key *seal.PackageKey, pkg string, lf *loggedFile, r *rangeFlag, out string, unverified bool) error {
	if key == nil {
		return e.getClearRange(ctx, c, pkg, lf, r, out, unverified)
	}
	if len(lf.plainSum) == 0 {
		return fmt.Errorf("evidence %x (entry %d): package %s is sealed but the submission names no plaintext digest or size for this file: no range of it can be read", lf.sum, lf.index, pkg)
	}
	off, n, err := r.bounds(lf.plainSize)
	if err != nil {
		return err
	}
	ci, err := sealedHeader(ctx, c, *key, pkg, lf)
	if err != nil {
		return err
	}
	sr, err := ci.Range(off, n)
	if err != nil {
		return err
	}
	var written int64
	err = writeOut(out, func(f *atomicfile.File) error {
		lw := &localWriter{w: f}
		dec := ci.RangeWriter(sr, lw)
		_, err := c.DownloadEvidence(ctx, pkg, lf.sum, sr.Offset, sr.Length, dec)
		switch {
		case lw.err != nil:
			return localError(lf.sum, out, lw.err)
		case err != nil && !isOpenErr(err):
			return fmt.Errorf("evidence %x: %w: not written", lf.sum, e.explainErr(err))
		}
		if err := firstNonNil(err, dec.Close()); err != nil {
			return fmt.Errorf("evidence %x: a chunk of bytes %s does not open under the package key: %w; the server's bytes are not the logged file's, or its author sealed it wrong: evidence get (the whole file) tells which: not written", lf.sum, r, err)
		}
		written = dec.Written()
		return nil
	})
	if err != nil {
		return err
	}
	e.printf("wrote %s (bytes %d-%d of %s, %d bytes; chunks %d-%d of %d opened under the package key; the whole file's sha256 %x is checked only by getting it whole)\n",
		out, off, off+n-1, describe(lf), written, off/sealedfile.ChunkSize, (off+n-1)/sealedfile.ChunkSize, sealedfile.Chunks(lf.plainSize), lf.plainSum)
	return nil
}

// isOpenErr is a download cut by its writer: a chunk that did not open.
func isOpenErr(err error) bool {
	return errors.Is(err, sealedfile.ErrOpen) || errors.Is(err, sealedfile.ErrMalformed)
}

func (e *env) getClearRange(ctx context.Context, c *mvmclient.Client, pkg string, lf *loggedFile, r *rangeFlag, out string, unverified bool) error {
	if !unverified {
		return usagef("evidence get --range: %s is not sealed, and a range of it cannot be checked against the logged sha256 %x, which covers the whole file only: get the whole file, or give --unverified to write the server's bytes unchecked", describe(lf), lf.sum)
	}
	off, n := r.start, int64(0) // n 0: to the end
	if r.end >= 0 {
		n = r.end - r.start + 1
	}
	if lf.size >= 0 { // else the server refuses a range outside the file
		var err error
		if off, n, err = r.bounds(lf.size); err != nil {
			return err
		}
	}
	var size int64
	err := writeOut(out, func(f *atomicfile.File) error {
		lw := &localWriter{w: f}
		var err error
		size, err = c.DownloadEvidence(ctx, pkg, lf.sum, off, n, lw)
		if lw.err != nil {
			return localError(lf.sum, out, lw.err)
		}
		if err != nil {
			return fmt.Errorf("evidence %x: %w: not written", lf.sum, e.explainErr(err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		n = size - off
	}
	e.printf("wrote %s (bytes %d-%d of %s, %d bytes, UNVERIFIED: the server's bytes as sent; the logged sha256 %x covers the whole file only)\n", out, off, off+n-1, describe(lf), n, lf.sum)
	return nil
}

// describe names a logged file for a message.
func describe(lf *loggedFile) string {
	if lf.name != "" {
		return quoteName(lf.name)
	}
	return fmt.Sprintf("evidence %x", lf.sum)
}
