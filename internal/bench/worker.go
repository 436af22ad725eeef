package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// client is a connection and, with streams, the worker's stream on it.
type client struct {
	c   *mvmclient.Client
	app *mvmclient.Appender
}

func (c *client) close() {
	if c.app != nil {
		c.app.Close()
	}
}

// worker appends package after package, each through the mix's steps.
type worker struct {
	r         *run
	sub, resp client
	local     []time.Duration
}

func (w *worker) work() {
	r := w.r
	defer func() {
		w.sub.close()
		w.resp.close()
		r.mu.Lock()
		r.lat = append(r.lat, w.local...)
		r.mu.Unlock()
	}()
	steps := r.o.Mix.Steps()
	for {
		var p *Flow
		if r.o.Mix.Package == 0 {
			select {
			case p = <-r.pool:
			default:
				if r.take() { // the pool ran out before the clock
					r.mu.Lock()
					r.started--
					r.res.PoolExhausted = true
					r.mu.Unlock()
				}
				return
			}
		}
		for _, kind := range steps {
			if !r.take() {
				return
			}
			ok, stop := w.step(kind, &p)
			if stop {
				return
			}
			if !ok {
				break // the package's later steps would be refused
			}
		}
	}
}

// step makes, signs and appends one message of kind on *p (a new package
// for KindPackage): ok when it was acknowledged, stop when the run ended
// mid-call.
func (w *worker) step(kind string, p **Flow) (ok, stop bool) {
	r := w.r
	var m proto.Message
	var payload []byte // m's serialization when sealing made it
	var err error
	cl := &w.resp
	if kind == KindPackage {
		cl = &w.sub
		if *p, err = NewFlow(r.o.PayloadBytes, r.o.Sealing); err == nil {
			m = (*p).Target
		}
	} else {
		m, payload, err = (*p).Message(kind, r.o.Sealing)
	}
	var env []byte
	switch {
	case err != nil:
	case payload != nil:
		env, err = cl.c.SealPayload(message.TypeOf(m), payload)
	default:
		env, err = cl.c.Seal(m)
	}
	if err != nil {
		r.fail(err)
		return false, false
	}
	resp, d, err := w.append(cl, env)
	if err != nil {
		if r.ctx.Err() != nil {
			return false, true // the run ended mid-call: neither acked nor an error
		}
		r.fail(err)
		time.Sleep(10 * time.Millisecond) // a dead server is not a busy loop
		return false, false
	}
	w.local = append(w.local, d)
	if kind == KindPackage {
		(*p).Submitted(r.o.Sealing)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Acked++
	r.res.PerKind[kind]++
	if resp.Duplicate {
		r.res.Duplicates++
	}
	if r.enc != nil {
		_ = r.enc.Encode(Receipt{Index: resp.Receipt.Index, MessageID: message.Header(m).GetMessageId()})
	}
	return true, false
}

// append sends env on cl, over the worker's stream unless the run is
// unary, and returns the append's latency (not a stream's opening).
func (w *worker) append(cl *client, env []byte) (*mvmv1.AppendResponse, time.Duration, error) {
	ctx := w.r.ctx
	if w.r.o.Unary {
		t0 := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, err := cl.c.API.Append(cctx, &mvmv1.AppendRequest{Envelope: env})
		return resp, time.Since(t0), err
	}
	if cl.app == nil {
		app, err := cl.c.NewAppender(ctx)
		if err != nil {
			return nil, 0, err
		}
		cl.app = app
	}
	t0 := time.Now()
	resp, err := cl.app.AppendSealed(env)
	d := time.Since(t0)
	if cl.app.Broken() {
		cl.app.Close() // the next append opens another
		cl.app = nil
	}
	return resp, d, err
}

// fillPool submits Options.Pool packages before the clock starts, with
// every worker, for a mix of messages on existing packages.
func (r *run) fillPool() error {
	r.pool = make(chan *Flow, r.o.Pool)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan struct{}, r.o.Pool)
	for range r.o.Pool {
		next <- struct{}{}
	}
	close(next)
	for w := range r.o.Concurrency {
		c := r.o.Clients[w%len(r.o.Clients)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				p, err := NewFlow(r.o.PayloadBytes, r.o.Sealing)
				if err == nil {
					_, err = c.Append(r.ctx, p.Target)
				}
				if err == nil {
					p.Submitted(r.o.Sealing)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				r.pool <- p
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("submitting the pool of packages before the run: %w", first)
	}
	return nil
}
