package forkproof

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/tlog"
)

const (
	header = "mvm-exchange fork proof v1"
	// MaxFileBytes bounds a fork proof file: two checkpoints with up to
	// 100 signature lines each and 64 hashes fit well within it.
	MaxFileBytes = 64 << 10
	// maxHashes is more than any proof between two 64-bit sizes needs.
	maxHashes = 130
)

// Marshal writes p in the version 1 file format (see the package doc).
// The sizes line is read from the checkpoints' bodies, without verifying.
func (p *Proof) Marshal() ([]byte, error) {
	m, err := size(p.Small)
	if err != nil {
		return nil, err
	}
	n, err := size(p.Large)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nsizes %d %d\n", header, m, n)
	for _, h := range p.Hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(p.Small)
	b.WriteByte('\n')
	b.Write(p.Large)
	return b.Bytes(), nil
}

// Parse reads a version 1 fork proof. It checks the syntax only (the
// checkpoints' signatures and the hashes are [Verify]'s): the header, the
// sizes line matching the checkpoints, canonical base64 32-byte hashes,
// two signed notes, nothing else.
func Parse(b []byte) (*Proof, error) {
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(b), MaxFileBytes)
	}
	head, rest, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return nil, fmt.Errorf("%w: no empty line after the header", ErrMalformed)
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != header {
		return nil, fmt.Errorf("%w: the first line is not %q", ErrMalformed, header)
	}
	if len(lines) < 2 {
		return nil, fmt.Errorf("%w: no sizes line", ErrMalformed)
	}
	f := strings.Fields(lines[1])
	if len(f) != 3 || f[0] != "sizes" || strings.Join(f, " ") != lines[1] {
		return nil, fmt.Errorf("%w: the second line is not \"sizes M N\"", ErrMalformed)
	}
	m, err1 := decimal(f[1])
	n, err2 := decimal(f[2])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: sizes %q are not canonical decimals", ErrMalformed, lines[1])
	}
	if len(lines)-2 > maxHashes {
		return nil, fmt.Errorf("%w: %d hashes", ErrMalformed, len(lines)-2)
	}
	p := &Proof{}
	for i, l := range lines[2:] {
		h, ok := tlog.DecodeHash(l)
		if !ok {
			return nil, fmt.Errorf("%w: hash line %d is not a base64 32-byte hash", ErrMalformed, i+1)
		}
		p.Hashes = append(p.Hashes, h)
	}
	small, rest, err := cutNote(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: the first checkpoint: %w", ErrMalformed, err)
	}
	if len(rest) == 0 || rest[0] != '\n' {
		return nil, fmt.Errorf("%w: no empty line between the two checkpoints", ErrMalformed)
	}
	large, rest, err := cutNote(rest[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: the second checkpoint: %w", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the second checkpoint", ErrMalformed, len(rest))
	}
	p.Small, p.Large = small, large
	if sm, err := size(small); err != nil || sm != m {
		return nil, fmt.Errorf("%w: the sizes line says %d, the first checkpoint is not of that size", ErrMalformed, m)
	}
	if sn, err := size(large); err != nil || sn != n {
		return nil, fmt.Errorf("%w: the sizes line says %d, the second checkpoint is not of that size", ErrMalformed, n)
	}
	return p, nil
}

// cutNote cuts one signed note off the front of b: its text (lines up to
// an empty line), the empty line, and its signature lines ("— " ...).
func cutNote(b []byte) (signed, rest []byte, err error) {
	text, sigs, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok || len(text) == 0 {
		return nil, nil, fmt.Errorf("no note text followed by an empty line")
	}
	end := len(text) + 2
	for len(sigs) > 0 && bytes.HasPrefix(sigs, []byte("— ")) {
		line, after, ok := bytes.Cut(sigs, []byte("\n"))
		if !ok {
			return nil, nil, fmt.Errorf("an unterminated signature line")
		}
		end += len(line) + 1
		sigs = after
	}
	signed = b[:end:end]
	// A well-formed note opened with no keys is an unverified note; any
	// other error is its syntax.
	var unverified *note.UnverifiedNoteError
	if _, err := note.Open(signed, note.VerifierList()); !errors.As(err, &unverified) {
		return nil, nil, fmt.Errorf("not a signed note: %v", err)
	}
	return signed, b[end:], nil
}

// size reads the size line of a checkpoint's body, without verifying.
func size(signed []byte) (uint64, error) {
	lines := strings.SplitN(string(signed), "\n", 3)
	if len(lines) < 3 {
		return 0, fmt.Errorf("%w: a checkpoint without a size line", ErrMalformed)
	}
	return decimal(lines[1])
}

func decimal(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(v, 10) != s {
		return 0, fmt.Errorf("%q is not a canonical decimal", s)
	}
	return v, nil
}
