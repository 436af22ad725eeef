package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mvm-exchange/mvm/internal/tlog"
)

// Errors of an add-checkpoint request a caller may branch on.
var (
	// ErrForbidden: the witness answered 403, it does not trust the log
	// key that signed the checkpoint. Its operator must add the log's key.
	ErrForbidden = errors.New("witness refused the checkpoint's signature (403)")
	// ErrUnknownLog: the witness answered 404, it does not know the log's
	// origin. Its operator must add the log.
	ErrUnknownLog = errors.New("witness does not know this log (404)")
	// ErrInconsistent: the witness answered 422, the consistency proof
	// does not verify from what it holds: the witness saw another tree at
	// that size (a fork, or a witness that lies). Investigate.
	ErrInconsistent = errors.New("witness found the consistency proof invalid (422)")
	// ErrFork: the witness answered 409 with the very size sent: it holds
	// another checkpoint of that size, another tree under this log's key
	// (a fork, or this log restored from an older copy). Investigate.
	ErrFork = errors.New("witness holds another checkpoint of the same size")
	// ErrStatus: any other answer than 200 or the above. Retry later.
	ErrStatus = errors.New("witness answered with an error")
	// ErrBadCosignature: a 200 whose body holds no valid cosignature by
	// the witness's key on the checkpoint sent. Nothing is stored.
	ErrBadCosignature = errors.New("witness answered without a valid cosignature")
)

// ConflictError is a 409: the old size sent is not the size the witness
// last cosigned, which is Size. Retry with old size Size (and a proof from
// it); the same sizes with different roots are a fork.
type ConflictError struct{ Size uint64 }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness holds size %d, not the old size sent (409)", e.Size)
}

// Target is where to reach one witness the agreement lists: its name (the
// key name of its cosignatures) and its submission prefix, http:// or
// https://.
type Target struct {
	Name string
	URL  string
}

// ParseTarget parses NAME=URL (the server's --witness flag).
func ParseTarget(s string) (Target, error) {
	name, raw, ok := strings.Cut(s, "=")
	if !ok || name == "" || raw == "" {
		return Target{}, fmt.Errorf("witness %q: want NAME=URL, e.g. witness.example/w1=https://w1.example/", s)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("witness %s: URL %q: %w", name, raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Target{}, fmt.Errorf("witness %s: URL %q: want http://HOST[/PREFIX] or https://HOST[/PREFIX]", name, raw)
	}
	return Target{Name: name, URL: strings.TrimSuffix(raw, "/")}, nil
}

// Client sends add-checkpoint requests to one witness and verifies its
// answers under the witness's key.
type Client struct {
	// Target is where the witness is.
	Target Target
	// Key is the witness's cosignature/v1 verifier key, from the
	// agreement; its key name must be Target.Name.
	Key string
	// HTTP is the client to use (nil: http.DefaultClient). Its timeout, or
	// the context's deadline, bounds a request.
	HTTP *http.Client
}

// AddCheckpoint asks the witness to cosign checkpoint, a signed checkpoint
// of the log, given proof, the consistency proof from oldSize (the size the
// caller believes the witness last cosigned). It returns the witness's
// cosignature lines ("— name base64\n"), each verified on checkpoint
// under c.Key.
func (c *Client) AddCheckpoint(ctx context.Context, oldSize uint64, proof [][]byte, checkpoint []byte) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Target.URL+addCheckpointPath,
		bytes.NewReader(encodeRequest(oldSize, proof, checkpoint)))
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", c.Target.Name, err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", c.Target.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("witness %s: reading its answer: %w", c.Target.Name, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return c.verify(checkpoint, body)
	case http.StatusConflict:
		s := strings.TrimSuffix(string(body), "\n")
		size, err := strconv.ParseUint(s, 10, 64)
		if err != nil || strconv.FormatUint(size, 10) != s {
			return nil, fmt.Errorf("witness %s: %w: 409 with body %q, not a size", c.Target.Name, ErrStatus, clip(body))
		}
		return nil, &ConflictError{Size: size}
	case http.StatusForbidden:
		return nil, fmt.Errorf("witness %s: %w: %s", c.Target.Name, ErrForbidden, clip(body))
	case http.StatusNotFound:
		return nil, fmt.Errorf("witness %s: %w: %s", c.Target.Name, ErrUnknownLog, clip(body))
	case http.StatusUnprocessableEntity:
		return nil, fmt.Errorf("witness %s: %w: %s", c.Target.Name, ErrInconsistent, clip(body))
	}
	return nil, fmt.Errorf("witness %s: %w: %s: %s", c.Target.Name, ErrStatus, resp.Status, clip(body))
}

// verify returns the lines of body that are signatures by c.Key's name and
// key hash, each verified on checkpoint; lines of other keys are ignored.
// A line of the witness's key that does not verify, or none at all, is an
// error: nothing of such an answer is kept.
func (c *Client) verify(checkpoint, body []byte) ([]string, error) {
	var good []string
	for line := range strings.Lines(string(body)) {
		if !strings.HasPrefix(line, "— ") {
			return nil, fmt.Errorf("witness %s: %w: line %q is not a signature line", c.Target.Name, ErrBadCosignature, clip([]byte(line)))
		}
		if name, _, _ := strings.Cut(strings.TrimPrefix(line, "— "), " "); name != c.Target.Name {
			continue // another key's: the protocol says to ignore it
		}
		if _, err := tlog.VerifyCosignature(checkpoint, line, c.Key); err != nil {
			return nil, fmt.Errorf("witness %s: %w: %w", c.Target.Name, ErrBadCosignature, err)
		}
		good = append(good, line)
	}
	if len(good) == 0 {
		return nil, fmt.Errorf("witness %s: %w: no line by its key in %q", c.Target.Name, ErrBadCosignature, clip(body))
	}
	return good, nil
}

// clip shortens a witness's answer for an error message.
func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
