"""Triage commands: ``classify``, ``train`` and ``evaluate``.

``register(group)`` adds them to the main ``ingestd`` click group. Training itself lives in
``triage.run.run_training`` so other callers (the case store's labelled history) reuse it.
"""

import json
from pathlib import Path
from typing import Any

import click

from ingestd.cli.app import App
from ingestd.config import SHIPPED_MODEL, shipped
from ingestd.terminal import terminal_text

DEFAULT_MODEL = shipped(SHIPPED_MODEL)  # the checkout's models/, or the wheel's copy
MODELS_DIR = DEFAULT_MODEL.parent


def _subject_and_text(raw: bytes) -> tuple[str, str]:
    """Subject and the text triage sees: the same parser and reply stripping as the pipeline."""
    from ingestd.message import parse_bytes  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)
    from ingestd.mimelimits import ParseLimits, triage_view  # noqa: PLC0415  (as above)

    context = click.get_current_context(silent=True)
    app = context.find_object(App) if context is not None else None
    limits = app.settings.limits.parse_limits() if app is not None else ParseLimits()
    parsed = parse_bytes(raw, limits)
    return triage_view(parsed.subject, parsed.reply_text, limits)


def _model_path(model: Path | None) -> Path:
    """--model, else the configured [triage] model when a config is in use, else the shipped one."""
    if model is not None:
        return model
    app = click.get_current_context().find_object(App)
    return app.settings.triage.model if app is not None else DEFAULT_MODEL


def _labelled_cases(enabled: bool) -> list[Any]:
    """Agents' corrected labels from the case store: the history the model learns from
    (a case marked not a complaint teaches it nothing about complaints)."""
    app = click.get_current_context().find_object(App)
    if not enabled or app is None:
        return []
    from ingestd.casework import corrected_cases  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)
    from triage.records import CORRECTION, LabelledText  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    with app.services.factory() as session:
        return [LabelledText(c.subject, c.description, c.category, c.severity, origin=CORRECTION)
                for c in corrected_cases(session)]


def _taxonomy(from_data: bool, severity_map: str | None) -> Any:
    """The categories a training file may use: [triage] categories, SPEC's nine without a
    config, or whatever the file holds with --categories-from-data."""
    from triage.labels import CATEGORIES  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)
    from triage.records import Taxonomy, parse_severity_map  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    app = click.get_current_context().find_object(App)
    configured = app.settings.triage.categories if app is not None else CATEGORIES
    try:
        mapping = parse_severity_map(severity_map or "")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--severity-map") from exc
    return Taxonomy(None if from_data else configured, mapping)


def _load_classifier(model: Path) -> Any:
    from triage import Classifier  # noqa: PLC0415  # keep `ingestd --help` fast (no sklearn)

    try:
        return Classifier.load(model)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def _print_result(result: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
        return
    flag = "ESCALATE" if result.escalate else "normal"
    click.echo(f"category:   {result.category} (confidence {result.confidence:.2f})")
    click.echo(f"severity:   {result.severity} [{flag}]")
    if result.needs_review:
        click.echo("review:     confidence is low, a person should check the labels")
    click.echo(f"model:      {result.model_version}")
    for reason in result.reasons:
        click.echo(f"  - {terminal_text(reason, one_line=True)}")


@click.command("classify")
@click.argument("file", type=click.File("rb"))
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              show_default="models/current.skops", help="Model file to use.")
def classify_cmd(file: Any, as_json: bool, model: Path) -> None:
    """Triage one .eml message (FILE, or - for standard input)."""
    subject, text = _subject_and_text(file.read())
    _print_result(_load_classifier(_model_path(model)).classify(subject, text), as_json)


def _columns(value: str | None) -> tuple[str, ...] | None:
    return tuple(c.strip() for c in value.split(",") if c.strip()) if value else None


def _report_dict(report: Any) -> dict[str, Any]:
    cand = report.candidate
    current = cand.current_evaluation

    def f1(evaluation: Any, task: str) -> float | None:
        metrics = getattr(evaluation, task) if evaluation else None
        return round(metrics.macro_f1, 4) if metrics else None

    return {
        "candidate_version": cand.classifier.version,
        "trained_tasks": list(cand.trained_tasks),
        "train_size": cand.train_size, "heldout_size": cand.heldout_size,
        "candidate": {"category_macro_f1": f1(cand.evaluation, "category"),
                      "severity_macro_f1": f1(cand.evaluation, "severity"),
                      "escalation_recall": cand.evaluation.escalation_recall,
                      "escalation_precision": cand.evaluation.escalation_precision},
        "current": None if current is None else {
            "version": current.model_version,
            "category_macro_f1": f1(current, "category"),
            "severity_macro_f1": f1(current, "severity"),
            "escalation_recall": current.escalation_recall},
        "baselines": {name: round(f1, 4) for name, f1 in cand.baselines.items()},
        "better": report.decision.better, "reason": report.decision.reason,
        "promoted": report.promoted, "candidate_dir": str(report.candidate_dir),
        "current_path": str(report.current_path),
    }


def _measured(scores: dict[str, Any] | None) -> dict[str, Any] | None:
    """Scores for people: three decimals, and a task not trained or not measured says so,
    never None."""
    if scores is None:
        return None
    return {k: "not measured" if v is None else f"{v:.3f}" if isinstance(v, float) else v
            for k, v in scores.items()}


def _print_training(data: dict[str, Any]) -> None:
    cand, cur = _measured(data["candidate"]), _measured(data["current"])
    assert cand is not None  # noqa: S101  (a training report always has its candidate)
    click.echo(f"candidate {data['candidate_version']}: trained {', '.join(data['trained_tasks'])}"
               f" on {data['train_size']}, held-out {data['heldout_size']}")
    click.echo(f"  category macro-F1 {cand['category_macro_f1']}, severity macro-F1 "
               f"{cand['severity_macro_f1']}, escalation recall {cand['escalation_recall']}, "
               f"precision {cand['escalation_precision']}")
    for name, f1 in data["baselines"].items():
        click.echo(f"  baseline {name}: category macro-F1 {f1}")
    if cur:
        click.echo(f"current {cur['version']}: category macro-F1 {cur['category_macro_f1']}, "
                   f"severity macro-F1 {cur['severity_macro_f1']}")
    verdict = "promoted" if data["promoted"] else "not promoted"
    click.echo(f"{verdict}: {data['reason']}")
    click.echo(f"candidate written to {data['candidate_dir']}")
    if data["promoted"]:
        click.echo(f"current model is now {data['current_path']}")


@click.command("train")
@click.option("--from", "from_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV or JSONL with labelled text (default: the shipped corpus).")
@click.option("--text-columns", help="Comma-separated text columns [subject,body].")
@click.option("--label-column", help="Category label column [category].")
@click.option("--severity-column", help="Severity label column [severity]; 'none' for none.")
@click.option("--categories-from-data", is_flag=True,
              help="Take the category names the file uses instead of [triage] categories.")
@click.option("--severity-map", metavar="CODE=SEVERITY,...",
              help="Read other severity codes, e.g. 0=critical,1=high,2=medium,3=low.")
@click.option("--promote", is_flag=True, help="Make the candidate current if it is better.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--cases/--no-cases", "with_cases", default=True, show_default=True,
              help="Add the agents' corrected labels from the case store.")
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path),
              default=MODELS_DIR, show_default="models/", help="Where models live.")
def train_cmd(*, from_file: Path | None, text_columns: str | None, label_column: str | None,
              severity_column: str | None, categories_from_data: bool, severity_map: str | None,
              promote: bool, no_progress: bool, as_json: bool, with_cases: bool,
              models_dir: Path) -> None:
    """Train a candidate model, compare it with the current one, optionally promote it.

    Features, class weights and regularisation are chosen by cross-validation on the data
    given; categories with fewer than 3 examples are kept with a warning."""
    from triage.records import LabelColumns  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)
    from triage.run import FileSpec, run_training  # noqa: PLC0415  # sklearn only when needed

    spec = None
    if from_file is not None:
        columns = LabelColumns(_columns(text_columns) or ("subject", "body"),
                               label_column or "category",
                               _severity(severity_column, label_column))
        spec = FileSpec(from_file, columns, _taxonomy(categories_from_data, severity_map))
    try:
        report = run_training(_labelled_cases(with_cases), from_file=spec, models_dir=models_dir,
                              promote_if_better=promote,
                              progress=not no_progress)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    for warning in report.candidate.warnings:
        click.echo(f"warning: {warning}", err=True)
    data = _report_dict(report)
    click.echo(json.dumps(data, indent=2)) if as_json else _print_training(data)


def _severity(severity_column: str | None, label_column: str | None) -> str | None:
    """Severity column: as given; none when only a category label column is named."""
    if severity_column is not None:
        return None if severity_column.lower() == "none" else severity_column
    return None if label_column else "severity"


@click.command("evaluate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              show_default="models/current.skops", help="Model file to evaluate.")
@click.option("--text-columns", help="Comma-separated text columns [subject,body].")
@click.option("--label-column", default="category", show_default=True)
@click.option("--severity-column", default="severity", show_default=True)
@click.option("--categories-from-data", is_flag=True,
              help="Accept the category names the file uses.")
@click.option("--severity-map", metavar="CODE=SEVERITY,...", help="Read other severity codes.")
def evaluate_cmd(*, file: Path, as_json: bool, model: Path, text_columns: str | None,
                 label_column: str, severity_column: str, categories_from_data: bool,
                 severity_map: str | None) -> None:
    """Score a model on a labelled CSV/JSONL file."""
    from triage.evaluate import evaluate  # noqa: PLC0415  (scikit-learn only when needed)
    from triage.records import LabelColumns, load_records  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    columns = LabelColumns(_columns(text_columns) or ("subject", "body"), label_column,
                           None if severity_column.lower() == "none" else severity_column)
    try:
        records = load_records(file, columns, _taxonomy(categories_from_data, severity_map))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    evaluation = evaluate(_load_classifier(_model_path(model)), records)
    if as_json:
        click.echo(json.dumps(evaluation.as_dict(), indent=2))
        return
    _print_evaluation(evaluation)


def _print_evaluation(evaluation: Any) -> None:
    click.echo(f"model {evaluation.model_version} on {evaluation.size} records")
    for task in ("category", "severity"):
        metrics = getattr(evaluation, task)
        if metrics is None:
            continue
        click.echo(f"{task}: macro-F1 {metrics.macro_f1:.3f}, accuracy {metrics.accuracy:.3f}")
        for label, m in metrics.per_class.items():
            click.echo(f"  {label:<17} precision {m.precision:.3f}  recall {m.recall:.3f}"
                       f"  (n={m.support})")
    if evaluation.escalation_recall is not None:
        click.echo(f"escalation recall: {evaluation.escalation_recall:.3f}")
    if evaluation.escalation_precision is not None:
        click.echo(f"escalation precision: {evaluation.escalation_precision:.3f}")


def register(group: click.Group) -> None:
    """Add the triage commands to ``group``."""
    for command in (classify_cmd, train_cmd, evaluate_cmd):
        group.add_command(command)
