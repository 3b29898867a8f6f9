"""`make run`: write `.env` if missing, check settings, train Rasa if needed, then run every process under honcho.

One Ctrl-C (SIGINT) or SIGTERM stops them all: honcho sends SIGTERM to each process group, and SIGKILL
to whatever is left 5 seconds later. A process that dies on its own is started again (channels/supervise.py).
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import secrets
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
from dotenv import dotenv_values
from honcho.environ import parse_procfile
from pydantic import ValidationError

from channels.settings import Settings, describe_error
from channels.supervise import RestartingManager

ROOT = Path(__file__).resolve().parent.parent
ASSISTANT = ROOT / "assistant"
GENERATED_SECRETS = (
    "SYNC_WEBHOOK_TOKEN",
    "TWILIO_AUTH_TOKEN",
    "RASA_TOKEN",
    "ACTIONS_TOKEN",
    "PRIVACY_KEY",
    "EMAIL_INBOUND_TOKEN",
)
ADDED_SECRETS = ("PRIVACY_KEY",)  # required secrets newer than some .env files: added to one that lacks them


def write_env_if_missing(root: Path = ROOT) -> bool:
    """Copy .env.example to .env with fresh secrets. Returns True when it wrote one."""
    target = root / ".env"
    if target.exists():
        return False
    lines = []
    for line in (root / ".env.example").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() in GENERATED_SECRETS and not value.strip():
            line = f"{name}={secrets.token_urlsafe(32)}"
        lines.append(line)
    target.write_text("\n".join(lines) + "\n")
    target.chmod(0o600)
    return True


def add_missing_secrets(root: Path = ROOT, names: tuple[str, ...] = ADDED_SECRETS) -> list[str]:
    """Append freshly generated values for required secrets that an existing `.env` (older than they are)
    lacks and the environment does not set; the names added.
    """
    target = root / ".env"
    if not target.exists():
        return []
    present = dotenv_values(target)
    added = [name for name in names if not present.get(name) and not os.environ.get(name)]
    if added:
        text = target.read_text()
        lines = [f"{name}={secrets.token_urlsafe(32)}" for name in added]
        target.write_text(text + ("" if text.endswith("\n") or not text else "\n") + "\n".join(lines) + "\n")
    return added


def is_loopback(host: str) -> bool:
    """True for `localhost` and any loopback address (all of 127/8, ::1); False for 0.0.0.0 and names."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def connect_host(bind_host: str) -> str:
    """The host to reach a process that listens on `bind_host` (a wildcard address is reached on loopback)."""
    host = bind_host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def service_urls(settings: Settings) -> tuple[str, str]:
    """Where Rasa and the action server are reached: RASA_URL and ACTIONS_URL, or BIND_HOST on their ports.

    The settings' default (loopback 127.0.0.1) is replaced by BIND_HOST's address when that is another one,
    since nothing listens on 127.0.0.1 then.
    """
    host = connect_host(settings.bind_host)
    urls = []
    for url, port in ((settings.rasa_url, settings.rasa_port), (settings.actions_url, settings.actions_port)):
        urls.append(f"http://{host}:{port}" if url == f"http://127.0.0.1:{port}" else url)
    return urls[0], urls[1]


def check_internal_secrets(settings: Settings) -> str | None:
    """Why start-up must stop, or None: Rasa and the action server need RASA_TOKEN and ACTIONS_TOKEN as soon
    as they listen on, or are reached at, anything but loopback (docs/adr/0009-internal-service-secrets.md)."""
    rasa_url, actions_url = service_urls(settings)
    missing = []
    for name, token, url in (
        ("RASA_TOKEN", settings.rasa_token, rasa_url),
        ("ACTIONS_TOKEN", settings.actions_token, actions_url),
    ):
        exposed = not is_loopback(settings.bind_host) or not is_loopback(urlsplit(url).hostname or "")
        if exposed and not token.get_secret_value():
            missing.append(name)
    if not missing:
        return None
    return (
        f"Configuration error:\n  {' and '.join(missing)} must be set: BIND_HOST={settings.bind_host} (or "
        f"RASA_URL/ACTIONS_URL) is not a loopback address, so Rasa and the action server can be reached from "
        f"other machines, and would answer anyone as any customer.\n"
        f"Set {' and '.join(missing)} in .env or the environment to a long random string (for example "
        f"`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or set BIND_HOST=127.0.0.1, "
        f"then run `make run` again."
    )


def training_digest() -> str:
    """A digest of everything Rasa trains on; a new digest means a new model."""
    h = hashlib.sha256()
    files = [
        ASSISTANT / "config.yml",
        *sorted(p for p in (ASSISTANT / "domain").rglob("*") if p.suffix in (".yml", ".yaml")),
        *sorted(p for p in (ASSISTANT / "data").rglob("*") if p.suffix in (".yml", ".yaml")),
    ]
    for path in files:
        h.update(str(path.relative_to(ASSISTANT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def rasa_env() -> dict[str, str]:
    """The real environment with Rasa's telemetry off and its import-time noise quietened."""
    return {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONWARNINGS": "ignore",
    }


def ensure_model(models: Path = ROOT / "models") -> Path:
    """The trained model for the current training data, trained now if there is none."""
    name = f"assistant-{training_digest()}"
    model = models / f"{name}.tar.gz"
    if model.exists():
        return model
    print(
        f"Training the Rasa model {name} (the training data changed or no model exists; about a minute)...", flush=True
    )
    subprocess.run(
        [
            str(ROOT / ".venv-rasa/bin/rasa"),
            "train",
            "--config",
            "assistant/config.yml",
            "--domain",
            "assistant/domain",
            "--data",
            "assistant/data",
            "--out",
            str(models),
            "--fixed-model-name",
            name,
        ],
        cwd=ROOT,
        env=rasa_env(),
        check=True,
    )
    return model


def fresh_metrics_dir(folder: Path) -> None:
    """An empty PROMETHEUS_MULTIPROC_DIR: counts start again at zero with every `make run` (a reset Prometheus
    handles), and none are left from processes of an earlier run."""
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def child_env(settings: Settings, model: Path) -> dict[str, str]:
    """The environment every process gets: .env, overridden by the real environment, plus resolved values."""
    env = {k: v for k, v in dotenv_values(ROOT / ".env").items() if v is not None}
    env.update(rasa_env())  # the real environment, plus Rasa's quiet-and-offline switches
    rasa_url, actions_url = service_urls(settings)
    env.update(
        {
            "BIND_HOST": settings.bind_host,
            # Always defined, so endpoints.yml and credentials.yml expand them (an empty token checks nothing).
            "RASA_URL": rasa_url,
            "ACTIONS_URL": actions_url,
            "RASA_TOKEN": settings.rasa_token.get_secret_value(),
            "ACTIONS_TOKEN": settings.actions_token.get_secret_value(),
            "GATEWAY_PORT": str(settings.gateway_port),
            "RASA_PORT": str(settings.rasa_port),
            "ACTIONS_PORT": str(settings.actions_port),
            "SMTP_LISTEN_PORT": str(settings.smtp_listen_port),
            "SAMPLE_SITE_PORT": str(settings.sample_site_port),
            "RASA_MODEL": str(model),
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            # The gateway and the email listener count into files here; GET /metrics adds them up (docs/metrics.md).
            "PROMETHEUS_MULTIPROC_DIR": str(settings.data_dir / "metrics"),
            # The repository first; an inherited PYTHONPATH (the tests' socket guard) still applies after it.
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        }
    )
    redis = urlsplit(settings.redis_url) if settings.redis_url else None
    if redis is not None:  # named by the profile's endpoints file (scale_out_endpoints), never written to disk
        env["REDIS_USERNAME"] = unquote(redis.username or "")
        env["REDIS_PASSWORD"] = unquote(redis.password or "")
    env.pop("VIRTUAL_ENV", None)
    return env


DEFAULT_ENDPOINTS = "assistant/endpoints.yml"


def scale_out_endpoints(settings: Settings) -> str | None:
    """With REDIS_URL set (the scale-out profile), the text of Rasa's endpoints file: assistant/endpoints.yml
    plus Redis tracker and lock stores, so that any Rasa replica serves any conversation. None without it.

    Trackers expire after RETENTION_DAYS like the transcripts. A password or user name in REDIS_URL is not
    written out: the file names ${REDIS_PASSWORD} / ${REDIS_USERNAME}, which `child_env` sets.
    """
    if not settings.redis_url:
        return None
    parts = urlsplit(settings.redis_url)
    db = int((parts.path or "/0").strip("/") or 0)
    common = [
        "  type: redis",
        f"  url: {json.dumps(parts.hostname or '127.0.0.1')}",
        f"  port: {parts.port or 6379}",
        f"  db: {db}",
        f"  use_ssl: {'true' if parts.scheme == 'rediss' else 'false'}",
        "  key_prefix: assistant",
    ]
    if parts.username:
        common.append("  username: ${REDIS_USERNAME}")
    if parts.password:
        common.append("  password: ${REDIS_PASSWORD}")
    tracker = ["tracker_store:", *common, f"  record_exp: {settings.retention_days * 86400}"]
    lock = ["lock_store:", *common]
    base = (ASSISTANT / "endpoints.yml").read_text().rstrip("\n")
    note = "# Written by channels/launcher.py for REDIS_URL (the scale-out profile, docs/deploy.md)."
    return "\n".join([base, note, *tracker, *lock]) + "\n"


def write_endpoints(settings: Settings) -> str:
    """The endpoints file `rasa run` is given: the default one, or the profile's written into DATA_DIR."""
    text = scale_out_endpoints(settings)
    if text is None:
        return DEFAULT_ENDPOINTS
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = (settings.data_dir / "rasa-endpoints.yml").resolve()
    path.write_text(text)
    return str(path)


def announce_when_ready(settings: Settings) -> None:
    """Print the URLs to open once /healthz says every part is ready."""
    host = connect_host(settings.bind_host)
    base = f"http://{host}:{settings.gateway_port}"
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=2, trust_env=False).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    else:
        return
    site = f"\n  sample agency site: http://{host}:{settings.sample_site_port}/" if settings.uses_sample_site else ""
    print(
        f"\nReady.\n  web chat:           {base}/\n  health:             {base}/healthz\n"
        f"  API docs:           {base}/api/docs\n  email:              send to {settings.email_from} via "
        f"smtp://{host}:{settings.smtp_listen_port}{site}\n  Ctrl-C stops everything.\n",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Start every process of the assistant in the foreground.")
    parser.add_argument("--no-write-env", action="store_true", help="don't create .env (tests)")
    parser.add_argument("--train-only", action="store_true", help="train the Rasa model if needed, then stop")
    args = parser.parse_args()
    os.chdir(ROOT)
    if args.train_only:
        print(f"Rasa model: {ensure_model()}")
        return
    if not args.no_write_env and write_env_if_missing():
        print(f"Wrote .env from .env.example with freshly generated {', '.join(GENERATED_SECRETS)}.", flush=True)
    elif not args.no_write_env and (added := add_missing_secrets()):
        print(f"Added freshly generated {', '.join(added)} to .env (this version needs it).", flush=True)
    try:
        settings = Settings()
    except ValidationError as exc:
        sys.exit(describe_error(exc) + "\nFix these in .env or the environment, then run `make run` again.")
    problem = check_internal_secrets(settings)
    if problem:
        sys.exit(problem)
    tokens = {"RASA_TOKEN": settings.rasa_token, "ACTIONS_TOKEN": settings.actions_token}
    unset = [name for name, token in tokens.items() if not token.get_secret_value()]
    if unset:
        print(
            f"Note: {' and '.join(unset)} not set, so Rasa and the action server take unauthenticated calls (on "
            "loopback only). A .env written by `make run` has them; add them to yours.",
            flush=True,
        )
    try:
        model = ensure_model()
    except subprocess.CalledProcessError:
        sys.exit("Training the Rasa model failed (see above); fix assistant/ and run `make run` again.")
    env = child_env(settings, model)
    fresh_metrics_dir(Path(env["PROMETHEUS_MULTIPROC_DIR"]))
    manager = RestartingManager()  # a process that dies is started again (channels/supervise.py)
    started = []
    endpoints = write_endpoints(settings)
    for name, entry in parse_procfile((ROOT / "Procfile").read_text()).processes.items():
        if name == "site" and not settings.uses_sample_site:
            continue
        if name == "rasa" and endpoints != DEFAULT_ENDPOINTS:
            entry = entry.replace(f"--endpoints {DEFAULT_ENDPOINTS}", f"--endpoints {shlex.quote(endpoints)}")
        manager.add_process(name, entry, env=env, cwd=str(ROOT))
        started.append(name)
    print(f"Starting {', '.join(started)}; the first sync runs if no index exists yet.", flush=True)
    threading.Thread(target=announce_when_ready, args=(settings,), daemon=True).start()
    manager.loop()
    sys.exit(manager.returncode)


if __name__ == "__main__":
    main()
