package boltpage

import (
	"fmt"
	"os"
)

// Check reads what bbolt trusts when it opens a file and when it first
// reads it, and refuses a file that would make it fault, panic or start
// over:
//
//   - a file of 0 bytes ([ErrEmpty]): bbolt would write a new database in
//     it;
//   - a meta page that is not a valid bbolt version 2 meta page (magic,
//     version, checksum, page size), or two meta pages of different page
//     sizes;
//   - a file shorter than the high-water mark of its meta page (bbolt maps
//     the pages past the end and faults when it reads them);
//   - a root page or a free list page out of bounds, not saying its own id,
//     of the wrong type, or (the free list) listing pages out of bounds;
//   - a page of a bucket tree, at any depth, that would make bbolt loop,
//     fault or panic when it follows the tree (walkTrees): a damaged
//     element count, a cycle of branch pages, a page out of bounds.
//
// Both meta pages must be valid, not just the one bbolt would use: bbolt
// writes its meta page with one small write inside one sector, then syncs,
// so a commit cannot tear it; a damaged meta page is damage, and falling
// back to the older one would drop a commit the log may have acknowledged.
//
// The file size need not be a multiple of the page size: only the pages
// below the high-water mark are read, and the store writes zeros ahead of
// it in chunks a crash may cut anywhere.
//
// Check reads the meta and free list pages and the page structure of
// every bucket tree (headers, element arrays, bucket headers: not the
// bulk of keys and values), so its time grows with the number of pages;
// what the keys and values mean (entries, hashes, indexes) is for the
// offline check (server --verify-db).
func Check(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return ErrEmpty
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrDamaged, fmt.Sprintf(format, args...))
	}
	metas, errs := ReadMetas(f)
	for i := range 2 {
		if errs[i] != nil {
			return bad("meta page %d: %v", i, errs[i])
		}
	}
	if metas[0].PageSize != metas[1].PageSize {
		return bad("the meta pages state page sizes %d and %d", metas[0].PageSize, metas[1].PageSize)
	}
	m := Current(metas)
	ps := uint64(m.PageSize)
	pages := uint64(size) / ps
	for i, mi := range metas {
		if mi.HWM < 2 || mi.HWM > pages {
			return bad("meta page %d counts %d pages of %d bytes; the file has %d bytes (%d pages): it was truncated", i, mi.HWM, ps, size, pages)
		}
	}
	if err := checkRoot(f, m); err != nil {
		return bad("%v", err)
	}
	if m.Freelist != NoFreelist {
		if err := checkFreelist(f, m); err != nil {
			return bad("free list: %v", err)
		}
	}
	if err := walkTrees(f, m); err != nil {
		return bad("%v", err)
	}
	return nil
}

// readPage reads page id with its overflow pages, within the high-water
// mark.
func readPage(f *os.File, m *Meta, id uint64) ([]byte, error) {
	ps := uint64(m.PageSize)
	if id < 2 || id >= m.HWM {
		return nil, fmt.Errorf("page %d is out of bounds (the file has %d pages)", id, m.HWM)
	}
	hdr := make([]byte, PageHeaderSize)
	if _, err := f.ReadAt(hdr, int64(id*ps)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := NE.Uint64(hdr); got != id {
		return nil, fmt.Errorf("page %d says it is page %d", id, got)
	}
	overflow := uint64(NE.Uint32(hdr[12:]))
	if id+overflow >= m.HWM {
		return nil, fmt.Errorf("page %d: its overflow of %d pages runs past the end of the file", id, overflow)
	}
	buf := make([]byte, (overflow+1)*ps)
	if _, err := f.ReadAt(buf, int64(id*ps)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return buf, nil
}

func checkRoot(f *os.File, m *Meta) error {
	buf, err := readPage(f, m, m.Root)
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	if flags := NE.Uint16(buf[8:]); flags != BranchPage && flags != LeafPage {
		return fmt.Errorf("root: page %d has type %#x where a branch or leaf page belongs", m.Root, flags)
	}
	return nil
}

func checkFreelist(f *os.File, m *Meta) error {
	buf, err := readPage(f, m, m.Freelist)
	if err != nil {
		return err
	}
	ids, err := FreelistIDs(buf)
	if err != nil {
		return fmt.Errorf("page %d: %w", m.Freelist, err)
	}
	for _, id := range ids {
		if id < 2 || id >= m.HWM {
			return fmt.Errorf("page %d lists page %d, out of bounds (the file has %d pages)", m.Freelist, id, m.HWM)
		}
	}
	return nil
}
