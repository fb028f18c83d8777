// Command berth makes a machine's containers match berth.yaml.
package main

import (
	"os"

	"github.com/voidnxlabs/berth/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
