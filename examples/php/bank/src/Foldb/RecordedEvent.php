<?php

declare(strict_types=1);

namespace Foldb;

/** An event as EVENT.READ returns it. */
final readonly class RecordedEvent
{
    /**
     * @param array<string, mixed> $data
     * @param array<string, mixed> $meta
     */
    public function __construct(
        public int $position,
        public string $stream,
        public int $version,
        public string $type,
        public array $data,
        public array $meta,
        public ?string $id,
        public int $time,
    ) {
    }

    /** @param list<mixed> $fields position, 1, stream, "account:42", version, 1, ... */
    public static function fromReply(array $fields): self
    {
        $f = [];
        for ($i = 0; $i + 1 < count($fields); $i += 2) {
            $f[$fields[$i]] = $fields[$i + 1];
        }

        return self::fromFields($f);
    }

    /**
     * A stream entry of XRANGE or XREADGROUP: its ID is "<position>-0", its
     * fields those of EVENT.READ without the position.
     *
     * @param array<string, string> $fields
     */
    public static function fromStreamEntry(string $id, array $fields): self
    {
        return self::fromFields(['position' => (int) strtok($id, '-')] + $fields);
    }

    /** @param array<string, mixed> $f */
    private static function fromFields(array $f): self
    {
        return new self(
            position: (int) $f['position'],
            stream: (string) $f['stream'],
            version: (int) $f['version'],
            type: (string) $f['type'],
            data: Client::decode((string) $f['data']),
            meta: Client::decode((string) ($f['meta'] ?? '{}')),
            id: isset($f['id']) && $f['id'] !== '' ? (string) $f['id'] : null,
            time: (int) $f['time'],
        );
    }
}
