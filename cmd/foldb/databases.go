package main

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/viper"

	"github.com/foldb/foldb/sqlproj/sqldb"
)

// The databases SQL projections write to are a setting of their own: a
// mapping in the config file,
//
//	databases:
//	  reports: {driver: postgres, dsn: "postgres://foldb@db/reports"}
//	  local:   {driver: sqlite, path: local.db}
//
// and FOLDB_DATABASES_<NAME>_DRIVER, _DSN and _PATH in the environment,
// which win over the file field by field. A database given a dsn alone is
// postgres; one given a path alone is sqlite.
const databasesKey = "databases"

// databaseSetting stands for every database in the output of foldb config.
var databaseSetting = &setting{Name: databasesKey, Doc: "databases SQL projections write to"}

type database struct {
	name string
	cfg  sqldb.Config
	from string
}

func (d database) describe() string {
	switch d.cfg.Driver {
	case "postgres":
		dsn := ""
		if d.cfg.DSN != "" {
			dsn = " dsn=(set)"
		}
		return fmt.Sprintf("%s: driver=postgres%s", d.name, dsn)
	default:
		return fmt.Sprintf("%s: driver=%s path=%s", d.name, d.cfg.Driver, d.cfg.Path)
	}
}

var databaseEnvRE = regexp.MustCompile(`^` + envPrefix + `_DATABASES_([A-Z0-9_]+?)_(DRIVER|DSN|PATH)=(.*)$`)

var databaseNameRE = regexp.MustCompile(`^[a-z0-9_]+$`)

// loadDatabases reads the databases from the config file (when file has
// one) and the environment.
func loadDatabases(file *viper.Viper) ([]database, error) {
	byName := map[string]*database{}
	get := func(name string) *database {
		if d, ok := byName[name]; ok {
			return d
		}
		d := &database{name: name}
		byName[name] = d
		return d
	}
	if file.InConfig(databasesKey) {
		raw, ok := file.Get(databasesKey).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("config %s: databases maps names to {driver, path or dsn}", file.ConfigFileUsed())
		}
		for name, v := range raw {
			fields, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("config %s: databases.%s is a mapping {driver, path or dsn}", file.ConfigFileUsed(), name)
			}
			d := get(strings.ToLower(name))
			d.from = "file " + file.ConfigFileUsed()
			for k, fv := range fields {
				text := fmt.Sprint(fv)
				switch strings.ToLower(k) {
				case "driver":
					d.cfg.Driver = text
				case "dsn":
					d.cfg.DSN = text
				case "path":
					d.cfg.Path = text
				default:
					return nil, fmt.Errorf("config %s: databases.%s.%s is not a field (driver, dsn, path)", file.ConfigFileUsed(), name, k)
				}
			}
		}
	}
	for _, kv := range os.Environ() {
		m := databaseEnvRE.FindStringSubmatch(kv)
		if m == nil || m[3] == "" {
			continue
		}
		d := get(strings.ToLower(m[1]))
		if d.from == "" {
			d.from = "env " + envPrefix + "_DATABASES_" + m[1]
		} else if !strings.HasPrefix(d.from, "env") {
			d.from += " and env"
		}
		switch m[2] {
		case "DRIVER":
			d.cfg.Driver = m[3]
		case "DSN":
			d.cfg.DSN = m[3]
		case "PATH":
			d.cfg.Path = m[3]
		}
	}
	var out []database
	for _, d := range byName {
		if !databaseNameRE.MatchString(d.name) {
			return nil, fmt.Errorf("database name %q (%s): use lower-case letters, digits and _", d.name, d.from)
		}
		if d.cfg.Driver == "" {
			switch {
			case d.cfg.DSN != "" && d.cfg.Path == "":
				d.cfg.Driver = "postgres"
			case d.cfg.Path != "" && d.cfg.DSN == "":
				d.cfg.Driver = "sqlite"
			default:
				return nil, fmt.Errorf("database %s (%s): give its driver (sqlite or postgres)", d.name, d.from)
			}
		}
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}
