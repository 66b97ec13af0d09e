package sqldb

import (
	"context"
	"fmt"
)

// Open opens the database c names.
func Open(ctx context.Context, c Config) (DB, error) {
	switch c.Driver {
	case "sqlite":
		return OpenSQLite(ctx, c.Path)
	case "postgres":
		return OpenPostgres(ctx, c.DSN)
	}
	return nil, fmt.Errorf("sqldb: unknown driver %q (sqlite, postgres)", c.Driver)
}
