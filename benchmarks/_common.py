"""Helpers shared by the benchmark scripts: corpora of real JPEGs and measured subprocesses."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent / "out"


def photo_like(width: int, height: int, seed: int) -> Image.Image:
    """A picture that compresses like a photograph: gradients, shapes, blur and grain."""
    rng = random.Random(seed)
    small = Image.new("RGB", (64, 48))
    top = tuple(rng.randrange(256) for _ in range(3))
    bottom = tuple(rng.randrange(256) for _ in range(3))
    for y in range(48):
        t = y / 47
        small.paste(
            tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)), (0, y, 64, y + 1)
        )
    im = small.resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(width // 20, width // 4)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    im = im.filter(ImageFilter.GaussianBlur(radius=max(1, width // 300)))
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    return Image.blend(im, noise, 0.12)


def jpeg_corpus(name: str, count: int, size: tuple[int, int], quality: int = 85) -> Path:
    """benchmarks/out/<name>/ with ``count`` JPEGs, made once and reused by later runs."""
    folder = OUT / f"{name}-{count}-{size[0]}x{size[1]}"
    folder.mkdir(parents=True, exist_ok=True)
    existing = {p.name for p in folder.glob("*.jpeg")}
    base = None
    for i in range(count):
        fname = f"img{i:06d}.jpeg"
        if fname in existing:
            continue
        if base is None:
            base = [photo_like(*size, seed) for seed in range(8)]
        im = base[i % len(base)].copy()
        # Distinct content per file (a block survives JPEG quantisation), so no two share a sha256.
        x, y = (i * 16) % (size[0] - 16), ((i * 16) // (size[0] - 16) * 16) % (size[1] - 16)
        im.paste((i % 256, (i // 256) % 256, 255 - i % 256), (x, y, x + 16, y + 16))
        im.save(folder / fname, quality=quality)
    return folder


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stderr: str
    #: user + system CPU seconds of the process and the children it waited for
    cpu: float = 0.0

    @property
    def last_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""

    def checked(self, cmd: list[str]) -> Run:
        """This run, or SystemExit with its stderr when it failed."""
        if self.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({self.returncode}):\n{self.stderr}")
        return self


def measured(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Run ``cmd``; wall time, CPU time and the peak RSS of that process tree's largest
    member (wait4: this child alone, not the caller)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, usage.ru_maxrss / 1024, proc.returncode, err, cpu)


def cvgallery_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cvgallery", *args]
