<?php

declare(strict_types=1);

namespace Bank;

use Foldb\RecordedEvent;

/**
 * "Sends" the welcome mail of each opened account: it writes one line into
 * a file of its own in $dir, named by the event's position, the stream
 * entry's ID. A redelivered entry (at least once: a worker that died before
 * its XACK) finds the file there and sends nothing twice.
 *
 * A mail is written whole as a draft in $dir/drafts and then linked under
 * its name, which fails when the name exists: a worker killed while writing
 * leaves no half mail that would stop the redelivery from sending it.
 */
final class WelcomeMailer
{
    private readonly string $drafts;

    public function __construct(private readonly string $dir)
    {
        $this->drafts = "{$dir}/drafts";
        if (!is_dir($this->drafts) && !mkdir($this->drafts, 0o755, true) && !is_dir($this->drafts)) {
            throw new \RuntimeException("cannot make {$this->drafts}");
        }
    }

    /** Reports whether a mail went out (false: it had gone out before). */
    public function send(RecordedEvent $event): bool
    {
        $file = "{$this->dir}/{$event->position}.mail";
        $sent = false;
        if (!is_file($file)) {
            $draft = "{$this->drafts}/{$event->position}." . bin2hex(random_bytes(8));
            $name = (string) ($event->data['name'] ?? '');
            if (file_put_contents($draft, "welcome {$event->stream} {$name}\n") === false) {
                throw new \RuntimeException("cannot write {$draft}");
            }
            $sent = @link($draft, $file);
            @unlink($draft);
            if (!$sent && !is_file($file)) {
                throw new \RuntimeException("cannot link {$draft} to {$file}");
            }
        }
        // Drafts of a worker that died before it removed them: its entry
        // stayed pending and came here.
        foreach (glob("{$this->drafts}/{$event->position}.*") ?: [] as $stale) {
            @unlink($stale);
        }

        return $sent;
    }
}
