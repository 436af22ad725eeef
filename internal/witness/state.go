package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/mvm-exchange/mvm/internal/atomicfile"
)

// State is where a witness keeps the latest checkpoint it cosigned, for one
// log. Save must be durable when it returns: the witness cosigns only
// after it, so a restart never forgets a checkpoint it cosigned.
type State interface {
	// Load returns the latest saved signed checkpoint, nil if none.
	Load() ([]byte, error)
	// Save durably replaces it.
	Save(checkpoint []byte) error
}

// FileState is a [State] in one file of two slots. Save writes the slot
// that does not hold the latest checkpoint, in place, and flushes it
// (fdatasync): one write and one flush, where a new file renamed into
// place costs two flushes and a directory update (a mediator node saves
// once per checkpoint it cosigns, and under `server --sync-witnesses`
// that is once per commit of the primary). A crash during a Save leaves
// that slot torn and the other whole: each slot carries a sequence number
// and the SHA-256 of its content, and Load takes the valid slot with the
// higher number, so it returns the checkpoint of the last Save that
// returned, or of the one in flight if it completed.
//
// The file is created (and a checkpoint too large for a slot is saved)
// whole, atomically: temporary file, fsync, rename, fsync of the
// directory. A file holding one plain checkpoint (this type's earlier
// format) is read as that checkpoint and replaced by the slotted format
// at the next Save.
type FileState string

const (
	// stateSlot is the size of a slot; stateHeader is its header: magic,
	// sequence number, length, SHA-256 of the three and the content.
	stateSlot   = 4096
	stateHeader = 8 + 8 + 4 + sha256.Size
	stateMagic  = "MVMWST01"
)

// Load reads the file; a missing file is no checkpoint yet.
func (f FileState) Load() ([]byte, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("witness state: %w", err)
	}
	if !slotted(b) {
		return b, nil // one plain checkpoint
	}
	_, data, ok := latestSlot(b)
	if !ok {
		return nil, fmt.Errorf("witness state: %s: neither slot is valid (damaged; restore it from a backup, or remove it to trust the log's next checkpoint afresh)", string(f))
	}
	return data, nil
}

// Save writes the checkpoint durably.
func (f FileState) Save(checkpoint []byte) error {
	if err := f.save(checkpoint); err != nil {
		return fmt.Errorf("witness state: %w", err)
	}
	return nil
}

func (f FileState) save(checkpoint []byte) error {
	if len(checkpoint) > stateSlot-stateHeader {
		return atomicfile.WriteFile(string(f), checkpoint, 0o600)
	}
	fh, err := os.OpenFile(string(f), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return f.create(checkpoint)
	}
	if err != nil {
		return err
	}
	defer fh.Close()
	var cur [2 * stateSlot]byte
	if n, _ := fh.ReadAt(cur[:], 0); n < len(cur) || !slotted(cur[:]) {
		return f.create(checkpoint) // the plain format: replaced whole
	}
	i, _, ok := latestSlot(cur[:])
	if !ok {
		return fmt.Errorf("%s: neither slot is valid; not overwriting it", string(f))
	}
	seq := binary.BigEndian.Uint64(cur[i*stateSlot+8:])
	other := 1 - i
	if _, err := fh.WriteAt(encodeSlot(seq+1, checkpoint), int64(other*stateSlot)); err != nil {
		return err
	}
	return fdatasync(fh)
}

// slotted reports whether b is a two-slot file: its size, and the magic
// at the start of either slot (a slot whose header was torn leaves the
// other's to tell; only a file whose both slots lost it reads as plain).
func slotted(b []byte) bool {
	return len(b) == 2*stateSlot &&
		(bytes.HasPrefix(b, []byte(stateMagic)) || bytes.HasPrefix(b[stateSlot:], []byte(stateMagic)))
}

// create writes a new file whose first slot holds checkpoint.
func (f FileState) create(checkpoint []byte) error {
	img := make([]byte, 2*stateSlot)
	copy(img, encodeSlot(1, checkpoint))
	copy(img[stateSlot:], stateMagic) // an empty, invalid second slot
	return atomicfile.WriteFile(string(f), img, 0o600)
}

// encodeSlot is a slot of sequence number seq holding data.
func encodeSlot(seq uint64, data []byte) []byte {
	s := make([]byte, stateSlot)
	copy(s, stateMagic)
	binary.BigEndian.PutUint64(s[8:], seq)
	binary.BigEndian.PutUint32(s[16:], uint32(len(data)))
	copy(s[stateHeader:], data)
	sum := slotSum(s[:20], data)
	copy(s[20:], sum[:])
	return s
}

func slotSum(head, data []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(head)
	h.Write(data)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// latestSlot returns the index and content of the valid slot of b with
// the higher sequence number.
func latestSlot(b []byte) (int, []byte, bool) {
	best, bestSeq := -1, uint64(0)
	var data []byte
	for i := range 2 {
		if len(b) < (i+1)*stateSlot {
			break
		}
		s := b[i*stateSlot : (i+1)*stateSlot]
		if !bytes.HasPrefix(s, []byte(stateMagic)) {
			continue
		}
		seq := binary.BigEndian.Uint64(s[8:])
		n := int(binary.BigEndian.Uint32(s[16:]))
		if seq == 0 || n > stateSlot-stateHeader {
			continue
		}
		d := s[stateHeader : stateHeader+n]
		if sum := slotSum(s[:20], d); !bytes.Equal(sum[:], s[20:stateHeader]) {
			continue
		}
		if best < 0 || seq > bestSeq {
			best, bestSeq, data = i, seq, d
		}
	}
	return best, bytes.Clone(data), best >= 0
}
