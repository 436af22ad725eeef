// Command client is the MVM Exchange command line.
//
//	go run ./client [--server 127.0.0.1:7443] [--certs certs] --as NAME COMMAND [ARGS]
//
// Run it with no arguments for the list of commands.
package main

import (
	"os"

	"github.com/mvm-exchange/mvm/internal/cli"
)

func main() { os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr)) }
