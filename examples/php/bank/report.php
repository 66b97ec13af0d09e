<?php

declare(strict_types=1);

// php report.php [<pdo-dsn>]
//
// The accounts and their balances, richest first, and the total, read with
// SQL from the table `accounts` that foldb keeps up to date (the sql:
// section of schema-sql.yaml). No foldb client: any SQL reader would do.
//
// The DSN is the argument, or FOLDB_REPORT_DSN:
//   sqlite:/path/to/foldb-data/sqlite.db                  the default database "sqlite"
//   pgsql:host=127.0.0.1;port=5432;dbname=reports;user=foldb;password=secret
//
// Everything is read in one read-only transaction, so that the rows, the
// total and the checkpoint (the log position the table holds every event
// up to) are of the same moment, while foldb goes on writing.

$dsn = $argv[1] ?? (getenv('FOLDB_REPORT_DSN') ?: '');
if ($dsn === '' || !preg_match('/^(sqlite|pgsql):/', $dsn)) {
    fwrite(STDERR, "usage: php report.php <sqlite:/path/to/sqlite.db | pgsql:host=...;dbname=...> (or FOLDB_REPORT_DSN)\n");
    exit(2);
}

try {
    $db = open($dsn);
    $driver = $db->getAttribute(PDO::ATTR_DRIVER_NAME);
    $db->beginTransaction();
    if ($driver === 'pgsql') {
        $db->exec('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    }
    $position = $db->query("SELECT position FROM foldb_checkpoints WHERE projection = 'accounts'")->fetchColumn();
    $rows = $db->query('SELECT id, name, balance FROM accounts ORDER BY balance DESC, id')->fetchAll(PDO::FETCH_ASSOC);
    [$count, $total] = $db->query('SELECT count(*), coalesce(sum(balance), 0) FROM accounts')->fetch(PDO::FETCH_NUM);
    $db->commit();
} catch (PDOException $e) {
    fwrite(STDERR, "report: {$e->getMessage()}\n");
    exit(1);
}

printf("accounts of %s, as of log position %s\n", $driver, $position === false ? 'none' : $position);
printf("%-16s %12s  %s\n", 'account', 'balance', 'name');
$sum = 0;
foreach ($rows as $row) {
    printf("%-16s %12d  %s\n", $row['id'], $row['balance'], $row['name'] ?? '');
    $sum += (int) $row['balance'];
}
printf("%-16s %12d  %d accounts\n", 'total', $total, $count);
if ($sum !== (int) $total || count($rows) !== (int) $count) {
    // Cannot happen within one transaction; says so if it does.
    fwrite(STDERR, "report: the rows sum to {$sum} in " . count($rows) . " accounts, SQL said {$total} in {$count}\n");
    exit(1);
}

function open(string $dsn): PDO
{
    $options = [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_STRINGIFY_FETCHES => false];
    if (str_starts_with($dsn, 'sqlite:')) {
        if (!extension_loaded('pdo_sqlite')) {
            throw new PDOException('the pdo_sqlite extension is not loaded');
        }
        $path = substr($dsn, strlen('sqlite:'));
        if (!is_file($path)) {
            // PDO would create an empty database, and the report would say "no such table".
            throw new PDOException("no SQLite file {$path}: is foldb started with schema-sql.yaml and --dir of that folder?");
        }
        // A reader beside foldb, which writes the file in WAL mode.
        $options[PDO::SQLITE_ATTR_OPEN_FLAGS] = PDO::SQLITE_OPEN_READONLY;
        $db = new PDO($dsn, null, null, $options);
        $db->exec('PRAGMA busy_timeout = 5000');

        return $db;
    }
    if (!extension_loaded('pdo_pgsql')) {
        throw new PDOException('the pdo_pgsql extension is not loaded');
    }

    return new PDO($dsn, null, null, $options);
}
