// Command client is the MVM Exchange command line.
//
//	go run ./client [--server HOST[:PORT]] [--certs certs] --as NAME COMMAND [ARGS]
//
// Run it with -h for the list of commands, the global flags and the
// environment; `client COMMAND -h` for a command's flags.
package main

import (
	"os"

	"github.com/mvm-exchange/mvm/internal/cli"
)

func main() { os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr)) }
