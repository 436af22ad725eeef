// Package boltpage reads the header pages of a bbolt file (go.etcd.io/bbolt,
// format version 2) directly from the file, without bbolt.
//
// bbolt trusts its file: a damaged or truncated file can make it panic
// ("invalid freelist page"), fault on a memory mapping longer than the file
// (SIGSEGV, SIGBUS), or quietly start a new database in an empty file. The
// server's store runs [Check] before bbolt opens a file, and the offline
// checker (server --verify-db) reads the same pages with the same parsers.
//
// Guarantees: nothing here panics on any file contents; every read is
// bounded by the file's size and the page size of a meta page whose
// checksum holds. Every field is in the machine's byte order, as bbolt
// writes it.
package boltpage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
)

// The format's constants.
const (
	Magic   = 0xED0CDAED
	Version = 2

	PageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	ElementSize    = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	BucketHeader   = 16 // root pgid u64, sequence u64
	MetaSize       = 64 // magic, version, page size, flags u32; root bucket 16; freelist, pgid, txid, checksum u64

	BranchPage   = 0x01
	LeafPage     = 0x02
	MetaPage     = 0x04
	FreelistPage = 0x10
	BucketLeaf   = 0x01

	// NoFreelist is the freelist page id of a file whose free list is
	// not persisted (bbolt rebuilds it at open).
	NoFreelist = ^uint64(0)
)

// NE is the byte order of every field.
var NE = binary.NativeEndian

// ErrDamaged is wrapped by every error [Check] returns about the file's
// contents (as opposed to errors reading it).
var ErrDamaged = errors.New("damaged bbolt file")

// ErrEmpty is returned by [Check] for a file of 0 bytes: bbolt would
// silently make a new database of it.
var ErrEmpty = errors.New("the file is empty (0 bytes), not a database")

// Meta is a parsed meta page.
type Meta struct {
	PageSize uint32
	Root     uint64 // page of the root bucket
	Freelist uint64 // page of the free list, or NoFreelist
	HWM      uint64 // high-water mark: pages in use, from 0
	TxID     uint64
}

// ParseMeta parses a meta page (at least its header and meta) and checks
// its type, magic, version, checksum and page size.
func ParseMeta(buf []byte) (*Meta, error) {
	if len(buf) < PageHeaderSize+MetaSize {
		return nil, fmt.Errorf("short page")
	}
	if NE.Uint16(buf[8:]) != MetaPage {
		return nil, fmt.Errorf("not a meta page (flags %#x)", NE.Uint16(buf[8:]))
	}
	b := buf[PageHeaderSize:]
	if NE.Uint32(b[0:]) != Magic {
		return nil, fmt.Errorf("not a bbolt file (magic %#x)", NE.Uint32(b[0:]))
	}
	if v := NE.Uint32(b[4:]); v != Version {
		return nil, fmt.Errorf("bbolt format version %d, not %d", v, Version)
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != NE.Uint64(b[56:]) {
		return nil, fmt.Errorf("checksum mismatch")
	}
	m := &Meta{PageSize: NE.Uint32(b[8:]), Root: NE.Uint64(b[16:]), Freelist: NE.Uint64(b[32:]), HWM: NE.Uint64(b[40:]), TxID: NE.Uint64(b[48:])}
	if m.PageSize < 512 || m.PageSize > 1<<16 || m.PageSize&(m.PageSize-1) != 0 {
		return nil, fmt.Errorf("page size %d", m.PageSize)
	}
	return m, nil
}

// ReadMetas reads and parses both meta pages. Page 1 is looked for at the
// page size page 0 states or, if page 0 is unreadable, at the first size
// (4096, 8192, ... 65536, then 512 to 2048) where a meta page stating that
// size is found, 4096 if none (a mediator node's file has 16 KiB pages).
func ReadMetas(f io.ReaderAt) (metas [2]*Meta, errs [2]error) {
	ps := int64(4096)
	first := make([]byte, PageHeaderSize+MetaSize)
	if n, _ := f.ReadAt(first, 0); n == len(first) {
		if m, err := ParseMeta(first); err == nil {
			ps = int64(m.PageSize)
		} else {
			ps = secondMetaAt(f)
		}
	}
	for i := range 2 {
		buf := make([]byte, PageHeaderSize+MetaSize)
		if _, err := f.ReadAt(buf, int64(i)*ps); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the file ends before it")
			}
			errs[i] = err
			continue
		}
		metas[i], errs[i] = ParseMeta(buf)
	}
	return metas, errs
}

// secondMetaAt is the offset of a meta page stating its own offset as the
// page size, among the sizes bbolt allows, the usual ones first; 4096 if
// there is none.
func secondMetaAt(f io.ReaderAt) int64 {
	buf := make([]byte, PageHeaderSize+MetaSize)
	for _, ps := range []int64{4096, 8192, 16384, 32768, 65536, 512, 1024, 2048} {
		if _, err := f.ReadAt(buf, ps); err != nil {
			continue
		}
		if m, err := ParseMeta(buf); err == nil && int64(m.PageSize) == ps {
			return ps
		}
	}
	return 4096
}

// Current is the meta page bbolt uses: the valid one with the larger
// transaction id (nil if neither is valid).
func Current(metas [2]*Meta) *Meta {
	switch {
	case metas[0] == nil:
		return metas[1]
	case metas[1] == nil || metas[0].TxID > metas[1].TxID:
		return metas[0]
	}
	return metas[1]
}

// FreelistIDs parses a free list page held in buf (with its overflow
// pages) and returns the page ids it lists.
func FreelistIDs(buf []byte) ([]uint64, error) {
	if len(buf) < PageHeaderSize {
		return nil, fmt.Errorf("short page")
	}
	if flags := NE.Uint16(buf[8:]); flags != FreelistPage {
		return nil, fmt.Errorf("page type %#x, not a free list", flags)
	}
	idx, count := uint64(0), uint64(NE.Uint16(buf[10:]))
	if count == 0xFFFF {
		if len(buf) < PageHeaderSize+8 {
			return nil, fmt.Errorf("short page")
		}
		idx, count = 1, NE.Uint64(buf[PageHeaderSize:])
	}
	if count > uint64(len(buf)-PageHeaderSize)/8-idx {
		return nil, fmt.Errorf("%d page ids do not fit in its page", count)
	}
	ids := make([]uint64, count)
	for i := range count {
		ids[i] = NE.Uint64(buf[PageHeaderSize+(idx+i)*8:])
	}
	return ids, nil
}
