<?php

declare(strict_types=1);

namespace Bank;

use Foldb\RecordedEvent;

/**
 * "Sends" the welcome mail of each opened account: it writes one line into
 * a file of its own in $dir, named by the event's position, the stream
 * entry's ID. A redelivered entry (at least once: a worker that died before
 * its XACK) finds the file there and sends nothing twice.
 */
final class WelcomeMailer
{
    public function __construct(private readonly string $dir)
    {
        if (!is_dir($dir) && !mkdir($dir, 0o755, true) && !is_dir($dir)) {
            throw new \RuntimeException("cannot make {$dir}");
        }
    }

    /** Reports whether a mail went out (false: it had gone out before). */
    public function send(RecordedEvent $event): bool
    {
        $file = "{$this->dir}/{$event->position}.mail";
        $f = @fopen($file, 'x');
        if ($f === false) {
            if (is_file($file)) {
                return false;
            }
            throw new \RuntimeException("cannot write {$file}");
        }
        $name = (string) ($event->data['name'] ?? '');
        fwrite($f, "welcome {$event->stream} {$name}\n");
        fflush($f);
        fclose($f);

        return true;
    }
}
