package cli

import (
	"context"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
)

func (e *env) withClient(fn func(ctx context.Context, c *mvmclient.Client) error) error {
	c, err := e.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.context()
	defer cancel()
	return fn(ctx, c)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
