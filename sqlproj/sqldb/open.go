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
	}
	return nil, fmt.Errorf("sqldb: unknown driver %q (sqlite)", c.Driver)
}
