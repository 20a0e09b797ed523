"""``crowd demo``: a fresh embedded database with a project to try."""

from __future__ import annotations

from pathlib import Path

from crowd.api.models import ProjectCreate
from crowd.broker import InProcessBroker
from crowd.clock import SystemClock
from crowd.config import Settings
from crowd.db.engine import create_database
from crowd.gold import service as gold
from crowd.gold.service import GoldRow
from crowd.identity import service as identity
from crowd.identity.tokens import Role
from crowd.projects import service as projects
from crowd.projects.service import BatchSubmission, TaskRow

PETS = [
    ("It purrs on my lap and ignores me when I call.", "cat"),
    ("It fetched the ball twelve times and still wants more.", "dog"),
    ("It climbed the curtains and knocked a glass off the table.", "cat"),
    ("It barks at the postman every single morning.", "dog"),
    ("It lives in a bowl and swims in circles.", "other"),
    ("It wags its tail when I come home.", "dog"),
    ("It sleeps eighteen hours a day in a sunny spot.", "cat"),
    ("It hops around its hutch and eats carrots.", "other"),
    ("It brought me a dead mouse as a present.", "cat"),
    ("It needs a walk twice a day, rain or shine.", "dog"),
    ("It repeats every word my grandmother says.", "other"),
    ("It sheds fur on the sofa and chases laser dots.", "cat"),
]


GOLD = [
    ("It meows for breakfast at five in the morning.", "cat"),
    ("It guards the house and growls at strangers.", "dog"),
    ("It lives in a glass tank with a heat lamp.", "other"),
    ("It knocked the flower pot off the windowsill on purpose.", "cat"),
]


def reset_database(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)


async def seed(settings: Settings) -> str:
    """Create keys, two workers and a project with a batch; the text to print."""
    db, clock = create_database(settings), SystemClock()
    try:
        key, platform = await identity.create_api_key(
            db, clock, organization="demo", role=Role.PLATFORM, name="demo platform"
        )
        _, operator = await identity.create_api_key(
            db, clock, organization="demo", role=Role.OPERATOR, name="demo operator"
        )
        workers = [await identity.create_worker(db, clock, name=name, organization="demo") for name in ("ann", "ben")]
        settings_body = ProjectCreate(
            name="Pets",
            instructions="Which animal does the text describe? Choose **other** for anything but a cat or a dog.",
            labels=["cat", "dog", "other"],
            min_overlap=2,
            max_overlap=4,
            lease_seconds=300,
            reward=5,
            bonus=2,
            budget=10_000,
            gold_rate=0.2,
            onboarding_tasks=3,
            onboarding_gold_rate=0.5,
            gold_feedback=True,
        )
        project = (await projects.create_project(db, clock, key.organization_id, settings_body.values())).project
        rows = [TaskRow(f"pet-{i + 1}", {"text": text}, 0) for i, (text, _) in enumerate(PETS)]
        batch = BatchSubmission("demo-batch-1", None, "demo", rows)
        await projects.submit_batch(db, clock, InProcessBroker(), key.organization_id, project.id, batch)
        gold_rows = [
            GoldRow(f"gold-{i + 1}", {"text": text}, label, f"It is a {label}.") for i, (text, label) in enumerate(GOLD)
        ]
        await gold.upload(db, clock, key.organization_id, project.id, gold_rows)
    finally:
        await db.dispose()
    url = f"http://{settings.host}:{settings.port}"
    (ann, ann_token), (ben, ben_token) = workers
    return "\n".join(
        [
            f"crowd demo: {url}  (database {settings.database_url}, recreated on every start)",
            f"  project {project.id}: {project.name}, labels {project.labels}, {len(rows)} tasks"
            f" (+{len(GOLD)} gold), overlap 2-4, reward 5 cents",
            f"  worker page {url}/  (sign in with a worker token)   dashboard {url}/operator  (operator key)",
            "  paste these into your shell to follow the README's curl walk-through:",
            f"export CROWD_URL={url}",
            f"export PROJECT={project.id}",
            f"export PLATFORM_KEY={platform}",
            f"export OPERATOR_KEY={operator}",
            f"export WORKER_TOKEN={ann_token}   # worker {ann.name}",
            f"export WORKER2_TOKEN={ben_token}  # worker {ben.name}",
        ]
    )
