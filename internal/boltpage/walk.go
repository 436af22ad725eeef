package boltpage

import (
	"bytes"
	"fmt"
	"io"
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
// It reads each page of the trees once, with no recursion (an explicit
// stack, bounded by the pages in the file), and from a page only its
// header, its element array and the values of its bucket elements, not
// the bulk of the keys and values: O(pages of the trees) small reads.
func walkTrees(f io.ReaderAt, m *Meta) error {
	w := &walker{f: f, m: m, ps: uint64(m.PageSize), seen: make([]bool, m.HWM), buf: make([]byte, m.PageSize)}
	w.stack = append(w.stack, pending{id: m.Root, where: "(root)"})
	for len(w.stack) > 0 {
		p := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		if err := w.visit(p); err != nil {
			return err
		}
	}
	return nil
}

type pending struct {
	id    uint64
	where string // the bucket, for the error
}

type walker struct {
	f     io.ReaderAt
	m     *Meta
	ps    uint64
	seen  []bool
	stack []pending
	buf   []byte // one page, read into for each page
}

// visit checks page p.id and puts the pages it refers to on the stack.
func (w *walker) visit(p pending) error {
	id := p.id
	if id < 2 || id >= w.m.HWM {
		return fmt.Errorf("bucket %s: page %d is out of bounds (the file has %d pages)", p.where, id, w.m.HWM)
	}
	// One read of the first page holds the header, and most often the
	// element array and the bucket values too.
	hdr := w.buf
	if _, err := w.f.ReadAt(hdr, int64(id*w.ps)); err != nil {
		return fmt.Errorf("bucket %s: page %d: %w", p.where, id, err)
	}
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
			w.stack = append(w.stack, pending{id: NE.Uint64(el[8:]), where: where})
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
			kv = bytes.Clone(arr[e+pos : end]) // arr is reused by the next page
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
			w.stack = append(w.stack, pending{id: root, where: name})
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
