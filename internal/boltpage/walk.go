package boltpage

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
)

// walkTrees reads the page structure of every bucket tree under meta m's
// root, as bbolt will follow it, and refuses what would make bbolt loop,
// recurse without end, fault or panic when it reads the tree:
//
//   - a page out of bounds, not saying its own id, or whose overflow runs
//     past the high-water mark;
//   - a page reached twice (a cycle of branch pages, or two parents
//     sharing a child): bbolt would follow a cycle for ever;
//   - a page of a type other than branch or leaf where one belongs;
//   - an element count whose elements do not fit in the page, a branch
//     page without elements, or an element whose key or value runs past
//     its page (a damaged count makes bbolt read keys and child ids out of
//     other bytes);
//   - a bucket value shorter than a bucket header, or an inline bucket that
//     is not a leaf page.
//
// It reads each page of the trees once, with no recursion: level by
// level (the pages the last level refers to, an explicit list bounded by
// the pages in the file), each level in page order, neighbouring pages
// read together (readRun) so that a tree of a million pages is a few
// thousand reads, not a million (docs/PERFORMANCE.md); of a page it looks
// only at its header, its element array and the values of its bucket
// elements, not the bulk of the keys and values.
func walkTrees(f io.ReaderAt, m *Meta) error {
	w := &walker{f: f, m: m, ps: uint64(m.PageSize), seen: make([]bool, m.HWM)}
	level := []pending{{id: m.Root, where: "(root)"}}
	for len(level) > 0 {
		slices.SortFunc(level, func(a, b pending) int { return cmp.Compare(a.id, b.id) })
		w.next = nil
		for i := 0; i < len(level); {
			n, err := w.readRun(level[i:])
			if err != nil {
				return err
			}
			for _, p := range level[i : i+n] {
				if err := w.visit(p); err != nil {
					return err
				}
			}
			i += n
		}
		level = w.next
	}
	return nil
}

// Reading pages together: a run of pages is read with one ReadAt when the
// gaps between them are at most maxGap pages (reading a gap costs less
// than another system call) and the run is at most maxRun pages.
const (
	maxGap = 16
	maxRun = 256
)

type pending struct {
	id    uint64
	where string // the bucket, for the error
}

type walker struct {
	f    io.ReaderAt
	m    *Meta
	ps   uint64
	seen []bool
	next []pending // the pages the level being visited refers to
	// run holds the pages from runFrom to runFrom+len(run)/ps-1 (the first
	// page of each page of the level that readRun read).
	run     []byte
	runFrom uint64
}

// readRun reads the first pages of level (sorted by id) that are close
// enough to be read in one ReadAt, and returns how many it read. Ids out
// of bounds are left for visit to refuse.
func (w *walker) readRun(level []pending) (int, error) {
	first := level[0].id
	if first < 2 || first >= w.m.HWM {
		w.run, w.runFrom = nil, first
		return 1, nil
	}
	n, last := 1, first
	for ; n < len(level); n++ {
		id := level[n].id
		if id >= w.m.HWM || id-last > maxGap || id-first >= maxRun {
			break
		}
		last = id
	}
	size := (last - first + 1) * w.ps
	if uint64(cap(w.run)) < size {
		w.run = make([]byte, size, maxRun*w.ps)
	}
	w.run, w.runFrom = w.run[:size], first
	if _, err := w.f.ReadAt(w.run, int64(first*w.ps)); err != nil {
		return 0, fmt.Errorf("bucket %s: pages %d to %d: %w", level[0].where, first, last, err)
	}
	return n, nil
}

// visit checks page p.id and lists the pages it refers to in w.next.
func (w *walker) visit(p pending) error {
	id := p.id
	if id < 2 || id >= w.m.HWM {
		return fmt.Errorf("bucket %s: page %d is out of bounds (the file has %d pages)", p.where, id, w.m.HWM)
	}
	// The first page, read by readRun, holds the header, and most often
	// the element array and the bucket values too.
	off := (id - w.runFrom) * w.ps
	hdr := w.run[off : off+w.ps : off+w.ps]
	if got := NE.Uint64(hdr); got != id {
		return fmt.Errorf("bucket %s: page %d says it is page %d", p.where, id, got)
	}
	flags, count, overflow := NE.Uint16(hdr[8:]), int(NE.Uint16(hdr[10:])), uint64(NE.Uint32(hdr[12:]))
	if id+overflow >= w.m.HWM {
		return fmt.Errorf("bucket %s: page %d: its overflow of %d pages runs past the end of the file", p.where, id, overflow)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i] {
			return fmt.Errorf("bucket %s: page %d is reached twice in the tree (a cycle or a shared page)", p.where, i)
		}
		w.seen[i] = true
	}
	if flags != BranchPage && flags != LeafPage {
		return fmt.Errorf("bucket %s: page %d has type %#x where a branch or leaf page belongs", p.where, id, flags)
	}
	size := (overflow + 1) * w.ps
	n := uint64(PageHeaderSize + count*ElementSize)
	if n > size {
		return fmt.Errorf("bucket %s: page %d: %d elements do not fit in it", p.where, id, count)
	}
	arr := hdr
	if n > uint64(len(hdr)) {
		arr = make([]byte, n)
		if _, err := w.f.ReadAt(arr, int64(id*w.ps)); err != nil {
			return fmt.Errorf("bucket %s: page %d: %w", p.where, id, err)
		}
	}
	return w.elements(arr, int64(id*w.ps), size, p.where, fmt.Sprintf("page %d", id))
}

// elements checks the element array arr of a branch or leaf page of size
// bytes at offset off of the file (an inline bucket's page is read from
// its value), named what.
func (w *walker) elements(arr []byte, off int64, size uint64, where, what string) error {
	flags, count := NE.Uint16(arr[8:]), int(NE.Uint16(arr[10:]))
	if flags == BranchPage && count == 0 {
		return fmt.Errorf("bucket %s: %s: a branch page without elements", where, what)
	}
	for i := range count {
		e := uint64(PageHeaderSize + i*ElementSize)
		el := arr[e : e+ElementSize]
		if flags == BranchPage {
			pos, ksize := uint64(NE.Uint32(el)), uint64(NE.Uint32(el[4:]))
			if e+pos+ksize > size {
				return fmt.Errorf("bucket %s: %s: element %d's key runs past the page", where, what, i)
			}
			w.next = append(w.next, pending{id: NE.Uint64(el[8:]), where: where})
			continue
		}
		eflags, pos, ksize, vsize := NE.Uint32(el), uint64(NE.Uint32(el[4:])), uint64(NE.Uint32(el[8:])), uint64(NE.Uint32(el[12:]))
		if e+pos+ksize+vsize > size {
			return fmt.Errorf("bucket %s: %s: element %d's key and value run past the page", where, what, i)
		}
		if eflags&BucketLeaf == 0 {
			continue
		}
		var kv []byte
		if end := e + pos + ksize + vsize; end <= uint64(len(arr)) {
			kv = bytes.Clone(arr[e+pos : end]) // arr is reused by the next run
		} else {
			kv = make([]byte, ksize+vsize)
			if _, err := w.f.ReadAt(kv, off+int64(e+pos)); err != nil {
				return fmt.Errorf("bucket %s: %s: %w", where, what, err)
			}
		}
		name := fmt.Sprintf("%q", kv[:ksize])
		if where != "(root)" {
			name = where + "/" + name
		}
		value := kv[ksize:]
		if len(value) < BucketHeader {
			return fmt.Errorf("bucket %s: %s: its %d-byte header is short", name, what, len(value))
		}
		if root := NE.Uint64(value); root != 0 {
			w.next = append(w.next, pending{id: root, where: name})
			continue
		}
		inline := value[BucketHeader:]
		if len(inline) < PageHeaderSize || NE.Uint16(inline[8:]) != LeafPage {
			return fmt.Errorf("bucket %s: %s: the inline bucket is not a leaf page", name, what)
		}
		n := uint64(NE.Uint16(inline[10:]))
		if PageHeaderSize+n*ElementSize > uint64(len(inline)) {
			return fmt.Errorf("bucket %s: %s: the inline bucket's %d elements do not fit in it", name, what, n)
		}
		if err := w.elements(inline, off+int64(e+pos+ksize+BucketHeader), uint64(len(inline)), name, what+" (inline)"); err != nil {
			return err
		}
	}
	return nil
}
