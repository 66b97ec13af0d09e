package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/foldb/foldb/internal/settings"
	"github.com/foldb/foldb/server"
	"github.com/foldb/foldb/sqlproj/sqldb"
)

// The settings of serve and config are the server's table of settings
// (server/config.go): each is a flag, an environment variable FOLDB_<NAME>
// with dashes as underscores, and a key of the YAML file given with
// --config (read with viper). A flag wins over the environment, the
// environment over the file, the file over the default.

const (
	envPrefix   = "FOLDB"
	fileSetting = "config" // the setting that names the file; it cannot be in the file
)

type setting = settings.Setting[server.Options]

// flagValue is a setting as a flag: its text is checked by the table when
// the flag is parsed, as the environment's and the file's are when they
// are read.
type flagValue struct {
	s    *setting
	text string
}

func (f *flagValue) String() string { return f.text }
func (f *flagValue) Type() string   { return f.s.Type() }

func (f *flagValue) Set(text string) error {
	o := server.DefaultOptions()
	if err := f.s.Set(&o, text); err != nil {
		var inv *settings.InvalidError
		if errors.As(err, &inv) { // pflag names the flag and the value already
			return fmt.Errorf("must be %s", inv.Want)
		}
		return err
	}
	f.text = text
	return nil
}

// addSettingFlags adds a flag for every setting of the table.
func addSettingFlags(f *pflag.FlagSet) {
	t := server.Settings()
	for _, s := range t.Settings() {
		if s.Compat {
			continue
		}
		f.Var(&flagValue{s: s, text: s.Pretty(t.Default(s))}, s.Name, s.Doc)
	}
}

// envName is a setting's environment variable: FOLDB_MAX_EVENT_SIZE.
func envName(name string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// resolved is a setting's effective value and where it came from.
type resolved struct {
	s     *setting
	value string
	from  string // "flag --port", "env FOLDB_PORT", "file foldb.yaml" or "default"
}

// loadOptions maps every setting onto server.Options through the table,
// each from the first layer that has it (flag, environment, file, default),
// and validates them. It returns each setting's value and source too.
func loadOptions(flags *pflag.FlagSet) (server.Options, []resolved, error) {
	t := server.Settings()
	o := t.Defaults()
	file := viper.New()
	// layer returns a setting's text and its source from the first layer
	// that has it; ok is false for the default.
	layer := func(name string) (text, from string, ok bool) {
		if f := flags.Lookup(name); f != nil && f.Changed {
			return f.Value.String(), "flag --" + name, true
		}
		// An empty variable counts as unset, as viper's AutomaticEnv has it.
		if val := os.Getenv(envName(name)); val != "" {
			return val, "env " + envName(name), true
		}
		if name != fileSetting && file.InConfig(name) {
			return file.GetString(name), "file " + file.ConfigFileUsed(), true
		}
		return "", "default", false
	}
	if path, _, ok := layer(fileSetting); ok && path != "" {
		file.SetConfigFile(path)
		if err := file.ReadInConfig(); err != nil {
			return o, nil, fmt.Errorf("reading config %s: %w", path, err)
		}
		for _, key := range file.AllKeys() {
			if strings.HasPrefix(key, databasesKey+".") {
				continue // databases.go reads them
			}
			if s := t.Lookup(key); s == nil || s.Compat || key == fileSetting {
				return o, nil, fmt.Errorf("config %s: %q is not a setting of the file", path, key)
			}
			switch raw := file.Get(key); raw.(type) {
			case map[string]any, []any:
				return o, nil, fmt.Errorf("config %s: %s must be a single value, not %v", path, key, raw)
			}
		}
	}
	var out []resolved
	for _, s := range t.Settings() {
		if s.Compat {
			continue
		}
		text, from, ok := layer(s.Name)
		if ok {
			if err := s.Set(&o, text); err != nil {
				return o, nil, fmt.Errorf("%w (%s)", err, from)
			}
		}
		out = append(out, resolved{s: s, value: s.Get(&o), from: from})
	}
	dbs, err := loadDatabases(file)
	if err != nil {
		return o, nil, err
	}
	o.Databases = map[string]sqldb.Config{}
	for _, d := range dbs {
		o.Databases[d.name] = d.cfg
		out = append(out, resolved{s: databaseSetting, value: d.describe(), from: d.from})
	}
	return o, out, o.Validate()
}

func configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print every setting, its value and where it came from",
		Long: `Print every setting serve would run with: its value and where it came from
(a flag, a FOLDB_* environment variable, the --config file, or the default).
It takes the same flags as serve. Secret values show as (set).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, list, err := loadOptions(cmd.Flags())
			if list != nil {
				printSettings(cmd.OutOrStdout(), list)
			}
			return err
		},
	}
	addSettingFlags(cmd.Flags())
	return cmd
}

func printSettings(w io.Writer, list []resolved) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "setting\tvalue\tfrom\tCONFIG SET")
	for _, r := range list {
		value := r.value
		switch {
		case r.s.Secret && value != "":
			value = "(set)"
		case value == "":
			value = `""`
		}
		runtime := ""
		if r.s.Runtime {
			runtime = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.s.Name, value, r.from, runtime)
	}
	tw.Flush()
}
