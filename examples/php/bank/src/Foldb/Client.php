<?php

declare(strict_types=1);

namespace Foldb;

/**
 * foldb's commands with PHP types, over any FoldbConnection. This is all the
 * "driver" the app needs: no ORM, no SQL, a few commands.
 *
 * Reads are resent when the connection breaks or foldb is still loading
 * (they change nothing); appends are not: only the caller knows whether it
 * sent an ID that makes a resend safe (see AccountAggregateRoot::persist()).
 */
final class Client
{
    /** Pauses before resending after a lost connection or LOADING, in ms (3.15 s in all). */
    public const RESEND_DELAYS_MS = [50, 100, 200, 400, 800, 1600];

    public function __construct(private readonly FoldbConnection $connection)
    {
    }

    /**
     * EVENT.APPEND: all events at once, or none.
     *
     * @param list<Event>          $events
     * @param array<string, mixed> $meta
     *
     * @throws WrongVersion when $expect does not hold
     * @throws Rejected     when a guard of the schema says no
     */
    public function append(string $stream, Expect $expect, ?string $id, array $events, array $meta = []): Appended
    {
        [$version, $position] = $this->connection->command((new Append($stream, $expect, $id, $events, $meta))->command());

        return new Appended((int) $version, (int) $position);
    }

    /**
     * MULTI, an EVENT.APPEND for each of $appends, EXEC: foldb writes them
     * all in one commit, or none of them. Each is decided on the state with
     * the ones before it applied (two withdrawals from one account add up).
     *
     * @param non-empty-list<Append> $appends
     *
     * @return list<Appended> in the order of $appends
     *
     * @throws WrongVersion|Rejected|FoldbError the refused append's own error; its
     *                                          command() says which (from 1). Nothing was written.
     * @throws ConnectionLost                   EXEC's reply was not received: all were written, or none
     * @throws Loading                          foldb is still loading; nothing was written
     */
    public function appendAll(array $appends): array
    {
        $replies = $this->connection->transaction(array_map(static fn (Append $a): array => $a->command(), $appends));

        return array_map(static fn (array $reply): Appended => new Appended((int) $reply[0], (int) $reply[1]), $replies);
    }

    /**
     * EVENT.READ: a stream's events in order.
     *
     * @return list<RecordedEvent>
     */
    public function read(string $stream): array
    {
        return array_map(RecordedEvent::fromReply(...), $this->query(['EVENT.READ', $stream]));
    }

    public function version(string $stream): int
    {
        return (int) $this->query(['EVENT.VERSION', $stream]);
    }

    /** @return array<string, mixed>|null */
    public function get(string $type, string $id): ?array
    {
        $json = $this->query(['ENTITY.GET', $type, $id]);

        return $json === null ? null : self::decode($json);
    }

    public function getWithVersion(string $type, string $id): Versioned
    {
        [$json, $version] = $this->query(['ENTITY.GET', $type, $id, 'WITHVERSION']);

        return new Versioned($json === null ? null : self::decode($json), (int) $version);
    }

    /**
     * ENTITY.ALL: entities sorted by a field, or in the server's own
     * (unspecified) order when $sortBy is null.
     *
     * @return list<array{string, array<string, mixed>}> [id, data] pairs
     */
    public function all(
        string $type,
        ?string $where = null,
        ?string $sortBy = null,
        string $direction = 'asc',
        ?int $limit = null,
        int $offset = 0,
    ): array {
        $args = ['ENTITY.ALL', $type];
        if ($where !== null) {
            array_push($args, 'WHERE', $where);
        }
        if ($sortBy !== null) {
            array_push($args, 'SORTBY', $sortBy, strtoupper($direction));
        }
        if ($limit !== null) {
            array_push($args, 'LIMIT', $offset, $limit);
        }
        $flat = $this->query($args);
        $pairs = [];
        for ($i = 0; $i + 1 < count($flat); $i += 2) {
            $pairs[] = [(string) $flat[$i], self::decode($flat[$i + 1])];
        }

        return $pairs;
    }

    public function count(string $type, ?string $where = null): int
    {
        $args = ['ENTITY.COUNT', $type];
        if ($where !== null) {
            array_push($args, 'WHERE', $where);
        }

        return (int) $this->query($args);
    }

    /** Sends a command that changes nothing, again if the connection breaks or foldb is loading. */
    private function query(array $args): mixed
    {
        foreach (self::RESEND_DELAYS_MS as $delay) {
            try {
                return $this->connection->command($args);
            } catch (ConnectionLost|Loading) {
                usleep($delay * 1_000);
            }
        }

        return $this->connection->command($args);
    }

    /** @return array<string, mixed> */
    public static function decode(string $json): array
    {
        return json_decode($json, true, 512, JSON_THROW_ON_ERROR);
    }

    /** @param array<string, mixed> $data */
    public static function encode(array $data): string
    {
        // (object): an empty array must still be the JSON object {}.
        return json_encode((object) $data, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
    }
}
