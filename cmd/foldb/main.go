// Command foldb is the foldb server and its tools.
//
//	foldb                     # serve on 127.0.0.1:6380 with data in ./data
//	foldb serve --port 7000 --dir /var/lib/foldb
//	foldb version
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/foldb/foldb/commands"
)

func main() {
	if err := rootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "foldb:", err)
		os.Exit(1)
	}
}

func rootCommand() *cobra.Command {
	serve := serveCommand()
	root := &cobra.Command{
		Use:           "foldb",
		Short:         "foldb keeps an application's state in memory, folded from stored events, and speaks the Redis protocol",
		SilenceUsage:  true,
		SilenceErrors: true,
		// With no subcommand, foldb serves.
		RunE: serve.RunE,
	}
	root.Flags().AddFlagSet(serve.Flags())
	root.AddCommand(serve, configCommand(), versionCommand(), verifyCommand(), exportCommand(), importCommand())
	return root
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print foldb's version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "foldb %s\n", commands.Version)
		},
	}
}
