package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/server"
)

func serveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (the default)",
		Long: `Run the server.

Settings come from flags, then FOLDB_* environment variables (FOLDB_PORT,
FOLDB_MAX_EVENT_SIZE, ...), then the file given with --config (YAML, keys as
the flag names), then the defaults.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := loadSettings(cmd.Flags())
			if err != nil {
				return err
			}
			return serve(v)
		},
	}
	addServeFlags(cmd.Flags())
	return cmd
}

func addServeFlags(f *pflag.FlagSet) {
	d := server.DefaultOptions()
	f.String("config", "", "read settings from this YAML file")
	f.String("bind", d.Bind, "address to listen on")
	f.Int("port", d.Port, "TCP port (0 picks a free one)")
	f.String("dir", d.Dir, "data directory")
	f.String("durability", d.Durability.String(), "when appends are fsynced: always (before the reply), everysec or none")
	f.String("requirepass", "", "password clients must give with AUTH (empty: none)")
	f.Int("maxclients", d.MaxClients, "most connections at once")
	f.Int("timeout", 0, "close connections idle for this many seconds (0: never)")
	f.Int64("proto-max-bulk-len", d.ProtoMaxBulkLen, "longest argument a client may send, in bytes")
	f.Int("max-event-size", d.MaxEventSize, "largest event (type + data + meta), in bytes")
	f.Int("max-events-per-append", d.MaxEventsPerAppend, "most events in one EVENT.APPEND")
	f.Duration("snapshot-interval", d.SnapshotInterval, "take a snapshot this long after the last one if events came since (0: never)")
	f.Uint64("snapshot-every", d.SnapshotEvery, "take a snapshot after this many events (0: never)")
	f.Int("snapshot-keep", d.SnapshotKeep, "how many snapshots to keep")
	f.String("schema", "", "load this schema (YAML or JSON) at start; it is stored with the log")
	f.String("log-level", "info", "debug, info, warn or error")
}

// loadSettings layers flags over FOLDB_* environment over the config file
// over defaults.
func loadSettings(flags *pflag.FlagSet) (*viper.Viper, error) {
	v := viper.New()
	v.SetEnvPrefix("FOLDB")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(flags); err != nil {
		return nil, err
	}
	if file := v.GetString("config"); file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("reading config %s: %w", file, err)
		}
	}
	return v, nil
}

func options(v *viper.Viper) (server.Options, error) {
	o := server.DefaultOptions()
	d, err := eventlog.ParseDurability(v.GetString("durability"))
	if err != nil {
		return o, err
	}
	o.Bind = v.GetString("bind")
	o.Port = v.GetInt("port")
	o.Dir = v.GetString("dir")
	o.Durability = d
	o.RequirePass = v.GetString("requirepass")
	o.MaxClients = v.GetInt("maxclients")
	o.Timeout = time.Duration(v.GetInt("timeout")) * time.Second
	o.ProtoMaxBulkLen = v.GetInt64("proto-max-bulk-len")
	o.MaxEventSize = v.GetInt("max-event-size")
	o.MaxEventsPerAppend = v.GetInt("max-events-per-append")
	o.SchemaFile = v.GetString("schema")
	o.SnapshotInterval = v.GetDuration("snapshot-interval")
	o.SnapshotEvery = v.GetUint64("snapshot-every")
	o.SnapshotKeep = v.GetInt("snapshot-keep")
	o.ConfigFile = v.GetString("config")
	return o, o.Validate()
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func serve(v *viper.Viper) error {
	logger, err := newLogger(v.GetString("log-level"))
	if err != nil {
		return err
	}
	opts, err := options(v)
	if err != nil {
		return err
	}
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
