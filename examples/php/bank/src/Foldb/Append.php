<?php

declare(strict_types=1);

namespace Foldb;

/** One EVENT.APPEND: a stream, its EXPECT, an ID, a META and the events. */
final readonly class Append
{
    /**
     * @param list<Event>          $events
     * @param array<string, mixed> $meta   for each of the events; none when empty
     */
    public function __construct(
        public string $stream,
        public Expect $expect,
        public ?string $id,
        public array $events,
        public array $meta = [],
    ) {
    }

    /** @return list<string> the command, as FoldbConnection takes it */
    public function command(): array
    {
        $args = ['EVENT.APPEND', $this->stream, 'EXPECT', $this->expect->value];
        if ($this->id !== null) {
            array_push($args, 'ID', $this->id);
        }
        if ($this->meta !== []) {
            array_push($args, 'META', Client::encode($this->meta));
        }
        foreach ($this->events as $event) {
            array_push($args, $event->type, Client::encode($event->data));
        }

        return $args;
    }
}
