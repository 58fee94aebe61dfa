"""Nothing the app draws fetches from the network: Streamlit's ``:material/…`` icons are loaded from a
font server, which a classroom behind a firewall (and this machine) cannot reach."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_material_icons_in_the_app():
    sources = [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "seqlab").rglob("*.py")]
    offenders = [str(p.relative_to(ROOT)) for p in sources if ":material/" in p.read_text()]
    assert offenders == []
