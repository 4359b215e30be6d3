"""Spreadsheets, CSV, slides, e-books and e-mail, on files built by the real libraries
(``tests.office_files``), through ``parse_document`` as the worker calls it."""

from __future__ import annotations

import io
import time
import zipfile

import pytest

from ragd.adapters.parsers import parse_document
from ragd.adapters.parsers.csv_tables import CSV, MAX_LINE_CHARS, TSV
from ragd.adapters.parsers.epub import EPUB
from ragd.adapters.parsers.mail import EML, MSG
from ragd.adapters.parsers.ods import ODS
from ragd.adapters.parsers.registry import detect_media_type
from ragd.adapters.parsers.slides import PPTX
from ragd.adapters.parsers.xlsx import XLSM, XLSX
from ragd.domain.models import ParsedDocument
from ragd.errors import DocumentRejected
from tests import office_files


def _by_sheet(doc: ParsedDocument) -> dict[str, list[str]]:
    return {s.heading_path[0]: s.text.split("\n") for s in doc.sections}


# -- XLSX -------------------------------------------------------------------------------


def test_xlsx_every_sheet_a_section_every_row_with_its_merged_headers() -> None:
    doc = parse_document(office_files.xlsx_workbook(), XLSX, source="results.xlsx")

    sheets = _by_sheet(doc)
    assert list(sheets) == ["Ventes 2024", "Staff"]
    assert sheets["Ventes 2024"][0] == (
        "Région: Nord-Est | Revenue Q1: 1200 | Revenue Q2: 1350.5 | Signed: 2024-03-31"
    )
    # a value merged down over two rows belongs to both
    assert sheets["Ventes 2024"][2:] == [
        "Région: Zürich Süd | Revenue Q1: 4321 | Revenue Q2: 77",
        "Région: Zürich Süd | Revenue Q1: 5 | Revenue Q2: 6",
    ]
    assert sheets["Staff"] == [
        "Name: Ångström Ödegaard | Role: Glaciologist | Office: Tromsø",
        "Name: Chidi Okafor | Role: Auditor | Office: Lagos",
    ]
    assert all(s.table_header == "" for s in doc.sections)  # rows whole, no header line


def test_xlsx_formula_gives_its_cached_value_and_none_without_one() -> None:
    cached = parse_document(office_files.xlsx_with_cached_formula(), XLSX, source="c.xlsx")
    never_calculated = parse_document(office_files.xlsx_workbook(), XLSX, source="n.xlsx")

    assert "Région: Île-de-France | Revenue Q1: 98765 | Revenue Q2: 197530" in cached.text
    assert "B4*2" not in cached.text + never_calculated.text
    assert "Île-de-France | Revenue Q1: 98765 | Signed: 2024-04-02" in never_calculated.text


def test_xlsx_core_properties_are_title_and_metadata() -> None:
    doc = parse_document(office_files.xlsx_workbook(), XLSX, source="results.xlsx")

    assert doc.title == "Regional results"
    assert doc.metadata["author"] == "Ana Müller"
    assert doc.metadata["created"] == "2024-01-15T09:30:00"
    assert doc.metadata["language"] == "fr"


def test_xlsm_is_read_like_xlsx_and_detected_by_name_and_by_content() -> None:
    data = office_files.xlsx_workbook()

    assert detect_media_type("macro.xlsm", data[:4096]) == XLSM
    assert detect_media_type("renamed.bin", data[:4096]) == XLSX
    assert "Chidi Okafor" in parse_document(data, XLSM, source="macro.xlsm").text


def test_sheet_without_a_header_row_keeps_plain_rows() -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    for row in ([1, 2, 3], [4, 5, 6]):
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)

    doc = parse_document(buf.getvalue(), XLSX, source="numbers.xlsx")

    assert doc.sections[0].text == "1 | 2 | 3\n4 | 5 | 6"


def test_a_million_formatted_empty_rows_cost_nothing() -> None:
    data = office_files.xlsx_empty_formatted_rows(400_000)  # 25 MB of row elements
    started = time.monotonic()

    doc = parse_document(data, XLSX, source="formatted.xlsx")

    assert doc.text == "Item: Lanterns | Count: 12"
    # Without dropping the empty rows openpyxl takes ~9 s here; generous for slow CI.
    assert time.monotonic() - started < 60


def test_a_million_formatted_empty_rows_beyond_the_member_limit_are_refused() -> None:
    data = office_files.xlsx_empty_formatted_rows(1_000_000)

    with pytest.raises(DocumentRejected, match=r"RAGD_ARCHIVE_MAX_(MEMBER_BYTES|RATIO)"):
        parse_document(data, XLSX, source="formatted.xlsx")


def test_decompression_bomb_xlsx_is_refused_before_inflating() -> None:
    data = office_files.xlsx_bomb(64)
    assert len(data) < 1024 * 1024

    with pytest.raises(DocumentRejected, match=r"decompression bomb|RAGD_ARCHIVE"):
        parse_document(data, XLSX, source="bomb.xlsx")


def test_zip_that_is_not_a_workbook_is_refused(not_a_docx_zip: bytes) -> None:
    with pytest.raises(DocumentRejected, match="spreadsheet"):
        parse_document(not_a_docx_zip, XLSX, source="fake.xlsx")


def test_truncated_xlsx_is_refused() -> None:
    data = office_files.xlsx_workbook()
    with pytest.raises(DocumentRejected):
        parse_document(data[: len(data) // 2], XLSX, source="cut.xlsx")


# -- ODS --------------------------------------------------------------------------------


def test_ods_sheets_merged_headers_and_repeated_empty_rows() -> None:
    doc = parse_document(office_files.ods_workbook(), ODS, source="gewaesser.ods")

    assert _by_sheet(doc) == {
        "Flüsse": ["Fluss: Donau | Länge km: 2850 | Länge Meilen: 1771"],
        "Seen": ["See: Bodensee | Gemessen: 2023-06-01"],
    }
    assert doc.title == "Gewässer"
    assert doc.metadata == {
        "author": "Jörg Weiß",
        "created": "2023-05-04T10:11:12",
        "language": "de",
    }


def test_ods_repeated_value_rows_and_columns_are_capped() -> None:
    content = office_files._ODS_CONTENT.replace(
        '<table:table-row table:number-rows-repeated="1048570">'
        '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>',
        '<table:table-row table:number-rows-repeated="100000000">'
        '<table:table-cell office:value-type="string" table:number-columns-repeated="3">'
        "<text:p>x</text:p></table:table-cell></table:table-row>",
    )

    doc = parse_document(office_files.ods_workbook(content), ODS, source="r.ods")

    rows = _by_sheet(doc)["Flüsse"]
    assert len(rows) == 1 + 1_000


# -- CSV / TSV --------------------------------------------------------------------------


def test_csv_semicolons_and_quotes_are_sniffed_and_rows_get_headers() -> None:
    data = 'Stadt;Einwohner;Notiz\n"Köln";1084000;"Dom; Rhein"\nMünchen;1512000;\n'.encode()

    doc = parse_document(data, CSV, source="staedte.csv")

    assert doc.text == (
        "Stadt: Köln | Einwohner: 1084000 | Notiz: Dom; Rhein\nStadt: München | Einwohner: 1512000"
    )


def test_tsv_is_tab_separated_and_csv_without_header_keeps_plain_rows() -> None:
    tsv = parse_document(b"name\tcity\nAda\tLondon\n", TSV, source="people.tsv")
    plain = parse_document(b"1,2,3\n4,5,6\n", CSV, source="numbers.csv")

    assert tsv.text == "name: Ada | city: London"
    assert plain.text == "1 | 2 | 3\n4 | 5 | 6"


def test_csv_line_of_10_mb_is_refused_with_its_line_number() -> None:
    data = b"a,b\n1,2\n" + b"x," * (5 * 1024 * 1024) + b"\n3,4\n"

    with pytest.raises(
        DocumentRejected, match=rf"line 3 of the CSV file is longer than {MAX_LINE_CHARS:,}"
    ):
        parse_document(data, CSV, source="long.csv")


def test_csv_detected_by_extension() -> None:
    assert detect_media_type("data.csv", b"a,b\n1,2\n") == CSV
    assert detect_media_type("data.tsv", b"a\tb\n1\t2\n") == TSV


# -- PPTX -------------------------------------------------------------------------------


def test_pptx_titles_are_headings_notes_included_tables_as_rows_slide_is_page() -> None:
    doc = parse_document(office_files.pptx_deck(), PPTX, source="review.pptx")

    by_text = {s.text: s for s in doc.sections}
    body = by_text["Growth came from the Ålesund office"]
    assert (body.page, body.heading_path) == (1, ("Quarterly review",))
    notes = by_text["Notes: Mention the señor Núñez contract renewal."]
    assert notes.page == 1
    table = next(s for s in doc.sections if s.table_header is not None)
    assert (table.page, table.heading_path) == (2, ("Fleet",))
    assert table.table_header == "Vessel | Tonnage | Home port"
    assert table.text.split("\n") == [
        "Nordlys | 1200 | Bergen",
        "Aurora | 950 | Tromsø",
        "Sjøstjerne | 430 | Ålesund",
    ]
    assert doc.title == "Review deck"
    assert doc.metadata["author"] == "Kari Nordmann"


# -- EPUB -------------------------------------------------------------------------------


def test_epub_chapters_in_spine_order_with_headings_tables_and_metadata() -> None:
    doc = parse_document(office_files.epub_book(), EPUB, source="tour.epub")

    assert [s.heading_path for s in doc.sections] == [
        ("Chapitre premier",),
        ("Chapitre II",),
        ("Chapitre II",),
    ]
    assert doc.sections[0].text == (
        "Phileas Fogg habitait la maison de Saville-row.\n\nIl était membre du Reform-Club."
    )
    assert doc.sections[2].table_header == "Ville | Jours"
    assert doc.title == "Le Tour du monde"
    assert doc.metadata["author"] == "Jules Verne"
    assert doc.metadata["language"] == "fr"
    assert doc.metadata["created"].startswith("1872-11-06")


def test_epub_without_container_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
    with pytest.raises(DocumentRejected, match=r"container\.xml"):
        parse_document(out.getvalue(), EPUB, source="x.epub")


# -- e-mail -----------------------------------------------------------------------------


def test_eml_headers_body_metadata_and_attachments() -> None:
    doc = parse_document(office_files.eml_message(), EML, source="offer.eml")

    assert doc.title == "Angebot für Kühlschränke"
    assert doc.sections[0].text.startswith("From: Zoë Ødegård <zoe@example.org>\nTo: ")
    assert "40 Kühlschränke zu je 310 EUR" in doc.sections[1].text
    assert doc.metadata["author"] == "Zoë Ødegård <zoe@example.org>"
    assert doc.metadata["created"] == "2024-03-05T14:03:00+01:00"
    assert doc.metadata["message_id"] == "<offer-42@example.org>"
    assert [(a.name, a.media_type) for a in doc.attachments] == [
        ("preise.csv", "text/csv"),
        ("lieferzeit.eml", "message/rfc822"),
    ]
    nested = parse_document(doc.attachments[1].data, EML, source="lieferzeit.eml")
    assert "sechs Wochen" in nested.text
    assert "KS-300" in parse_document(doc.attachments[0].data, CSV, source="p.csv").text


def test_html_only_eml_gives_the_html_text() -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["Subject"] = "Newsletter"
    msg.set_content(
        "<html><body><p>Première ligne</p><p>Zweite Zeile</p></body></html>", subtype="html"
    )

    doc = parse_document(msg.as_bytes(), EML, source="n.eml")

    assert doc.sections[-1].text == "Première ligne\nZweite Zeile"


def test_msg_written_as_a_compound_file_is_read_with_its_attachment() -> None:
    data = office_files.msg_message()

    assert detect_media_type("budget.msg", data[:4096]) == MSG
    doc = parse_document(data, MSG, source="budget.msg")

    assert doc.title == "Réunion budget 2025"
    assert "Budsjettet for 2025 er 4,2 millioner kroner." in doc.text
    assert doc.metadata["author"] == "Håkon Berg"
    assert doc.metadata["created"] == "2024-11-04T08:15:00+00:00"
    assert [a.name for a in doc.attachments] == ["budsjett.csv"]
    assert b"Reiser,250000" in doc.attachments[0].data


def test_msg_that_is_not_an_outlook_file_is_refused(random_bytes: bytes) -> None:
    with pytest.raises(DocumentRejected, match="Outlook"):
        parse_document(random_bytes, MSG, source="x.msg")


# -- language ---------------------------------------------------------------------------


def test_language_is_detected_when_the_format_does_not_say() -> None:
    german = (
        "Die Kühlschränke werden in sechs Wochen geliefert. Der Preis beträgt dreihundertzehn "
        "Euro je Stück, die Lieferung erfolgt frei Haus an das Lager in Köln."
    )
    doc = parse_document(german.encode(), "text/plain", source="note.txt")
    numbers = parse_document(b"1,2\n3,4\n", CSV, source="n.csv")

    assert doc.metadata["language"] == "de"
    assert "language" not in numbers.metadata


def test_language_detection_can_be_turned_off() -> None:
    from ragd.adapters.parsers.limits import ParseLimits
    from ragd.adapters.parsers.parsing import ParserRegistry

    english = b"The quarterly report shows that revenue grew in every northern region this year."
    off = ParserRegistry(ParseLimits(detect_language=False)).parse(
        english, "text/plain", source="r"
    )
    on = ParserRegistry(ParseLimits()).parse(english, "text/plain", source="r")

    assert "language" not in off.metadata
    assert on.metadata["language"] == "en"


def test_a_caption_over_the_table_becomes_its_heading() -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Q3"
    ws["A1"] = "Ventes par région, 3e trimestre"
    ws.merge_cells("A1:C1")
    ws.append([])
    ws.append(["Région", "Ventes", "Objectif"])
    ws.append(["Bretagne", 410, 400])
    buf = io.BytesIO()
    wb.save(buf)

    [sheet] = parse_document(buf.getvalue(), XLSX, source="q3.xlsx").sections

    assert sheet.heading_path == ("Q3", "Ventes par région, 3e trimestre")
    assert sheet.text == "Région: Bretagne | Ventes: 410 | Objectif: 400"


def test_rows_that_render_past_the_text_budget_fail_with_a_sentence() -> None:
    from ragd.adapters.parsers.sheets import TextBudget, table_sections

    rows = [(["Name", "Note"], ["Name", "Note"])] + [([f"n{i}", "x" * 50],) * 2 for i in range(100)]
    budget = TextBudget("CSV file", limit=1_000)

    with pytest.raises(DocumentRejected, match=r"more than .* split it into smaller files"):
        list(table_sections(iter(rows), heading_path=(), budget=budget))
