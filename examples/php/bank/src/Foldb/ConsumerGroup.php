<?php

declare(strict_types=1);

namespace Foldb;

/**
 * One consumer of a durable consumer group over foldb's log, with the Redis
 * stream commands every client speaks (XGROUP, XREADGROUP, XACK,
 * XAUTOCLAIM). foldb keeps the group's state (what was delivered, to whom,
 * what is acknowledged) in its log's database, so it survives a restart of
 * foldb as well as of the worker.
 *
 * Delivery is at least once: an entry read and not acknowledged is pending,
 * and autoClaim() hands the entries of a worker that died to a live one.
 * A handler must therefore be idempotent, keyed by the entry's ID.
 */
final class ConsumerGroup
{
    public function __construct(
        private readonly FoldbConnection $connection,
        public readonly string $key,
        public readonly string $group,
        public readonly string $consumer,
    ) {
    }

    /** XGROUP CREATE from the start of the log; an existing group is kept. */
    public function create(): void
    {
        try {
            $this->connection->command(['XGROUP', 'CREATE', $this->key, $this->group, '0']);
        } catch (FoldbError $e) {
            if ($e->errorCode() !== 'BUSYGROUP') {
                throw $e;
            }
        }
    }

    /**
     * XREADGROUP ... >: entries never delivered to the group, waiting up to
     * $blockMs for one. The connection's read timeout must be longer than
     * $blockMs (phpredis OPT_READ_TIMEOUT, Predis read_write_timeout).
     *
     * @return list<RecordedEvent>
     */
    public function read(int $count, int $blockMs): array
    {
        $reply = $this->connection->command([
            'XREADGROUP', 'GROUP', $this->group, $this->consumer,
            'COUNT', $count, 'BLOCK', $blockMs, 'STREAMS', $this->key, '>',
        ]);
        if ($reply === null) {
            return [];
        }
        $out = [];
        foreach ($reply as [, $entries]) {
            foreach ($entries as $entry) {
                $out[] = self::entry($entry);
            }
        }

        return $out;
    }

    /**
     * XAUTOCLAIM: takes over up to $count entries pending for longer than
     * $minIdleMs with any consumer (one that died), for this one.
     *
     * @return list<RecordedEvent>
     */
    public function autoClaim(int $minIdleMs, int $count): array
    {
        $out = [];
        $cursor = '0-0';
        do {
            [$cursor, $entries] = $this->connection->command([
                'XAUTOCLAIM', $this->key, $this->group, $this->consumer, $minIdleMs, $cursor, 'COUNT', $count,
            ]);
            foreach ($entries as $entry) {
                if ($entry !== null) {
                    $out[] = self::entry($entry);
                }
            }
        } while ($cursor !== '0-0' && count($out) < $count);

        return $out;
    }

    /** XACK: the entries are handled and never delivered to the group again. */
    public function ack(string ...$ids): int
    {
        if ($ids === []) {
            return 0;
        }

        return (int) $this->connection->command(['XACK', $this->key, $this->group, ...$ids]);
    }

    /** XPENDING's summary: how many entries wait for an XACK. */
    public function pending(): int
    {
        return (int) $this->connection->command(['XPENDING', $this->key, $this->group])[0];
    }

    /** @param array{0: string, 1: list<string>} $entry */
    private static function entry(array $entry): RecordedEvent
    {
        [$id, $flat] = $entry;
        $fields = [];
        for ($i = 0; $i + 1 < count($flat); $i += 2) {
            $fields[$flat[$i]] = $flat[$i + 1];
        }

        return RecordedEvent::fromStreamEntry($id, $fields);
    }
}
