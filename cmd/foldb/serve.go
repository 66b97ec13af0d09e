package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/foldb/foldb/server"
)

func serveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (the default)",
		Long: `Run the server.

Settings come from flags, then FOLDB_* environment variables (FOLDB_PORT,
FOLDB_MAX_EVENT_SIZE, ...), then the file given with --config (YAML, keys as
the flag names), then the defaults. foldb config shows what they come to.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, _, err := loadOptions(cmd.Flags())
			if err != nil {
				return err
			}
			return serve(opts)
		},
	}
	addSettingFlags(cmd.Flags())
	return cmd
}

func newLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func serve(opts server.Options) error {
	logger := newLogger(opts.LogLevel)
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return err
	}
	srv, err := server.New(opts, logger)
	if err != nil {
		return err
	}
	// Catch signals before listening, so that a stop right after start is
	// clean too.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if err := srv.Start(); err != nil {
		return err
	}
	go func() {
		s := <-sig
		logger.Info("signal received", "signal", s.String())
		if err := srv.Shutdown(true); err != nil {
			logger.Error("snapshot at shutdown failed; stopping without it (the log has every event)", "err", err)
			srv.Shutdown(false)
		}
		<-sig
		logger.Warn("second signal: exiting without a clean shutdown")
		os.Exit(1)
	}()
	return srv.Wait()
}
