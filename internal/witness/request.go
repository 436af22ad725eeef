package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mvm-exchange/mvm/internal/tlog"
)

// The protocol's limits and names.
const (
	// maxProofLines is the most consistency-proof lines a request may carry.
	maxProofLines = 63
	// maxRequestBytes bounds a request body: 63 proof lines and a
	// checkpoint with up to 100 signature lines fit well within it.
	maxRequestBytes = 64 << 10
	// maxResponseBytes bounds what the log reads of a witness's answer.
	maxResponseBytes = 16 << 10
	// sizeContentType is the content type of a 409's body.
	sizeContentType = "text/x.tlog.size"
	// addCheckpointPath is appended to a witness's submission prefix.
	addCheckpointPath = "/add-checkpoint"
)

// errBadRequest is a request that does not follow the protocol's syntax.
var errBadRequest = errors.New("malformed add-checkpoint request")

// encodeRequest is the add-checkpoint request body: the old size line, the
// proof lines, an empty line, the signed checkpoint.
func encodeRequest(oldSize uint64, proof [][]byte, checkpoint []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", oldSize)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(checkpoint)
	return b.Bytes()
}

// decodeRequest parses an add-checkpoint request body. It checks syntax
// only: sizes in canonical decimal, at most 63 proof hashes of 32 bytes, no
// proof with an old size of zero.
func decodeRequest(body []byte) (oldSize uint64, proof [][]byte, checkpoint []byte, err error) {
	head, checkpoint, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return 0, nil, nil, fmt.Errorf("%w: no empty line before the checkpoint", errBadRequest)
	}
	lines := strings.Split(string(head), "\n")
	size, ok := strings.CutPrefix(lines[0], "old ")
	if !ok {
		return 0, nil, nil, fmt.Errorf("%w: the first line is not \"old SIZE\"", errBadRequest)
	}
	oldSize, err = strconv.ParseUint(size, 10, 64)
	if err != nil || strconv.FormatUint(oldSize, 10) != size {
		return 0, nil, nil, fmt.Errorf("%w: old size %q is not a canonical decimal", errBadRequest, size)
	}
	if len(lines)-1 > maxProofLines {
		return 0, nil, nil, fmt.Errorf("%w: %d proof lines, at most %d", errBadRequest, len(lines)-1, maxProofLines)
	}
	if oldSize == 0 && len(lines) > 1 {
		return 0, nil, nil, fmt.Errorf("%w: a proof from size 0", errBadRequest)
	}
	for i, l := range lines[1:] {
		h, ok := tlog.DecodeHash(l)
		if !ok {
			return 0, nil, nil, fmt.Errorf("%w: proof line %d is not a base64 32-byte hash", errBadRequest, i+1)
		}
		proof = append(proof, h)
	}
	return oldSize, proof, checkpoint, nil
}
