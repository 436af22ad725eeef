package cli

import (
	"context"
	"flag"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
)

// Every file a command writes (--out, --receipt, --state, an amendment)
// goes through writeOut: mode 0600, whole or not at all
// (internal/atomicfile). The file is begun before write runs, so a name
// that cannot be written is found out before anything irreversible, and
// it takes its name only once write succeeded: a failed command leaves no
// partial file, and the file it was to replace as it was.
func writeOut(path string, write func(f *atomicfile.File) error) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return err
	}
	return f.Commit()
}

// writeOutBytes writes b to path, as writeOut.
func writeOutBytes(path string, b []byte) error {
	return writeOut(path, func(f *atomicfile.File) error {
		_, err := f.Write(b)
		return err
	})
}

// outFlag is --out FILE, the file a command writes.
type outFlag struct{ path string }

func (o *outFlag) register(fs *flag.FlagSet, usage string) { fs.StringVar(&o.path, "out", "", usage) }

func (o *outFlag) required() error {
	if o.path == "" {
		return usagef("--out FILE is required")
	}
	return nil
}

// run is a command that writes one file from the server (backup,
// export): no positional arguments, --out required, and write given a
// connection and the file's name.
func (o *outFlag) run(e *env, args []string, write func(ctx context.Context, c *mvmclient.Client, out string, e *env) error) error {
	if err := exactly(0, args, "no positional arguments"); err != nil {
		return err
	}
	if err := o.required(); err != nil {
		return err
	}
	return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
		return write(ctx, c, o.path, e)
	})
}
