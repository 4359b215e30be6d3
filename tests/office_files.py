"""Office files, e-mails and e-books built by real libraries at test time (no binary
fixtures): openpyxl, python-pptx, the stdlib ``email`` package, extract-msg's OLE writer;
ODS and EPUB are zips of XML written here to their specifications."""

from __future__ import annotations

import io
import re
import struct
import zipfile
from datetime import date, datetime
from email.message import EmailMessage


def xlsx_workbook() -> bytes:
    """Two sheets: a merged group header over two header rows, a formula, a date, a value
    merged down over two rows, non-ASCII text; core properties set."""
    import openpyxl

    wb = openpyxl.Workbook()
    sales = wb.active
    sales.title = "Ventes 2024"
    sales["A1"] = "Région"
    sales.merge_cells("A1:A2")
    sales["B1"] = "Revenue"
    sales.merge_cells("B1:C1")
    sales["B2"] = "Q1"
    sales["C2"] = "Q2"
    sales["D1"] = "Signed"
    sales.merge_cells("D1:D2")
    sales.append(["Nord-Est", 1200, 1350.5, date(2024, 3, 31)])
    sales.append(["Île-de-France", 98765, "=B4*2", date(2024, 4, 2)])
    sales.append(["Zürich Süd", 4321, 77, None])
    sales.merge_cells("A5:A6")
    sales["B6"] = 5
    sales["C6"] = 6
    staff = wb.create_sheet("Staff")
    staff.append(["Name", "Role", "Office"])
    staff.append(["Ångström Ödegaard", "Glaciologist", "Tromsø"])
    staff.append(["Chidi Okafor", "Auditor", "Lagos"])
    wb.properties.title = "Regional results"
    wb.properties.creator = "Ana Müller"
    wb.properties.created = datetime(2024, 1, 15, 9, 30)
    wb.properties.language = "fr-FR"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xlsx_with_cached_formula() -> bytes:
    """A workbook whose formula cell carries a cached value, as Excel saves it (openpyxl
    writes formulas without one, so the cached value is written into the XML)."""
    data = xlsx_workbook()
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in src.namelist():
            body = src.read(name)
            if name == "xl/worksheets/sheet1.xml":
                body = re.sub(rb"<f>B4\*2</f>(<v\s*/>|<v></v>)?", b"<f>B4*2</f><v>197530</v>", body)
            zf.writestr(name, body)
    return out.getvalue()


def big_sheet(rows: int, *, extra_columns: int = 0) -> bytes:
    """One sheet: a header row and ``rows`` numbered rows (a spreadsheet answer is in
    row ``rows // 2``)."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Inventory")
    ws.append(["SKU", "Warehouse", "Bin", "Quantity", *[f"Note {i}" for i in range(extra_columns)]])
    for i in range(rows):
        ws.append([f"SKU-{i:05d}", f"Depot {i % 7}", f"B{i % 97}", i * 3, *["x"] * extra_columns])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xlsx_empty_formatted_rows(rows: int) -> bytes:
    """A header, one value, then ``rows`` empty rows that carry only formatting."""
    import openpyxl

    wb = openpyxl.Workbook()
    buf = io.BytesIO()
    wb.save(buf)
    empty = "".join(
        f'<row r="{i}" s="1" customFormat="1" ht="15" customHeight="1"/>'
        for i in range(3, rows + 3)
    )
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>Item</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>Count</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>Lanterns</t></is></c><c r="B2"><v>12</v></c></row>'
        f"{empty}</sheetData></worksheet>"
    )
    return _replace_member(buf.getvalue(), "xl/worksheets/sheet1.xml", sheet.encode())


def xlsx_bomb(inflated_mib: int = 512) -> bytes:
    """A valid workbook whose sheet part inflates to ``inflated_mib`` MiB of spaces."""
    import openpyxl

    wb = openpyxl.Workbook()
    buf = io.BytesIO()
    wb.save(buf)
    filler = b" " * (inflated_mib * 1024 * 1024)
    return _replace_member(buf.getvalue(), "xl/worksheets/sheet1.xml", filler)


def _replace_member(data: bytes, member: str, body: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in src.namelist():
            zf.writestr(name, body if name == member else src.read(name))
    return out.getvalue()


_ODS_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">
<office:body><office:spreadsheet>
<table:table table:name="Flüsse">
<table:table-row>
 <table:table-cell office:value-type="string"><text:p>Fluss</text:p></table:table-cell>
 <table:table-cell office:value-type="string" table:number-columns-spanned="2"><text:p>Länge</text:p></table:table-cell>
 <table:covered-table-cell/>
</table:table-row>
<table:table-row>
 <table:table-cell/>
 <table:table-cell office:value-type="string"><text:p>km</text:p></table:table-cell>
 <table:table-cell office:value-type="string"><text:p>Meilen</text:p></table:table-cell>
</table:table-row>
<table:table-row>
 <table:table-cell office:value-type="string"><text:p>Donau</text:p></table:table-cell>
 <table:table-cell office:value-type="float" office:value="2850"><text:p>2.850</text:p></table:table-cell>
 <table:table-cell office:value-type="float" office:value="1771"><text:p>1.771</text:p></table:table-cell>
</table:table-row>
<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>
</table:table>
<table:table table:name="Seen">
<table:table-row>
 <table:table-cell office:value-type="string"><text:p>See</text:p></table:table-cell>
 <table:table-cell office:value-type="string"><text:p>Gemessen</text:p></table:table-cell>
</table:table-row>
<table:table-row>
 <table:table-cell office:value-type="string"><text:p>Bodensee</text:p></table:table-cell>
 <table:table-cell office:value-type="date" office:date-value="2023-06-01"><text:p>1.6.23</text:p></table:table-cell>
</table:table-row>
</table:table>
</office:spreadsheet></office:body></office:document-content>
"""

_ODS_META = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
 xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta>
<dc:title>Gewässer</dc:title><meta:initial-creator>Jörg Weiß</meta:initial-creator>
<meta:creation-date>2023-05-04T10:11:12</meta:creation-date><dc:language>de-DE</dc:language>
</office:meta></office:document-meta>
"""


def ods_workbook(content: str = _ODS_CONTENT) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", content)
        zf.writestr("meta.xml", _ODS_META)
        zf.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
            'opendocument:xmlns:manifest:1.0"/>',
        )
    return out.getvalue()


def pptx_deck() -> bytes:
    """Two slides: title and bullets with notes; a slide with a table (header + 3 rows)."""
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    first = prs.slides.add_slide(prs.slide_layouts[1])
    first.shapes.title.text = "Quarterly review"
    first.placeholders[1].text_frame.text = "Growth came from the Ålesund office"
    first.notes_slide.notes_text_frame.text = "Mention the señor Núñez contract renewal."
    second = prs.slides.add_slide(prs.slide_layouts[5])
    second.shapes.title.text = "Fleet"
    rows = [["Vessel", "Tonnage", "Home port"], ["Nordlys", "1200", "Bergen"],
            ["Aurora", "950", "Tromsø"], ["Sjøstjerne", "430", "Ålesund"]]  # fmt: skip
    table = second.shapes.add_table(4, 3, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    prs.core_properties.author = "Kari Nordmann"
    prs.core_properties.title = "Review deck"
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def epub_book() -> bytes:
    container = (
        '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:'
        'xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" '
        'media-type="application/oebps-package+xml"/></rootfiles></container>'
    )
    opf = (
        '<?xml version="1.0" encoding="UTF-8"?><package xmlns="http://www.idpf.org/2007/opf" '
        'version="3.0" unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<dc:title>Le Tour du monde</dc:title><dc:creator>Jules Verne</dc:creator>"
        "<dc:language>fr</dc:language><dc:date>1872-11-06</dc:date>"
        '<meta property="dcterms:modified">2020-01-02T03:04:05Z</meta></metadata>'
        '<manifest><item id="c1" href="text/ch1.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="c2" href="text/ch%202.xhtml" media-type="application/xhtml+xml"/></manifest>'
        '<spine><itemref idref="c1"/><itemref idref="c2"/></spine></package>'
    )
    ch1 = (
        '<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml"><body>'
        "<h1>Chapitre premier</h1><p>Phileas Fogg habitait la maison de Saville-row.</p>"
        "<div><p>Il était membre du Reform-Club.</p></div></body></html>"
    )
    ch2 = (
        '<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml"><body>'
        "<h1>Chapitre II</h1><p>Passepartout est convaincu.</p>"
        "<table><tr><th>Ville</th><th>Jours</th></tr><tr><td>Suez</td><td>7</td></tr>"
        "<tr><td>Bombay</td><td>13</td></tr></table></body></html>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        zf.writestr("META-INF/container.xml", container)
        zf.writestr("OEBPS/content.opf", opf)
        zf.writestr("OEBPS/text/ch1.xhtml", ch1)
        zf.writestr("OEBPS/text/ch 2.xhtml", ch2)
    return out.getvalue()


def eml_message(attachments: list[tuple[str, bytes, str]] | None = None) -> bytes:
    """A multipart message: plain and HTML bodies and the given attachments (name, bytes,
    MIME type); by default a CSV and a nested e-mail."""
    msg = EmailMessage()
    msg["From"] = "Zoë Ødegård <zoe@example.org>"
    msg["To"] = "Procurement <buy@example.com>, René <rene@example.com>"
    msg["Cc"] = "audit@example.com"
    msg["Subject"] = "Angebot für Kühlschränke"
    msg["Date"] = "Tue, 05 Mar 2024 14:03:00 +0100"
    msg["Message-ID"] = "<offer-42@example.org>"
    msg.set_content("Hallo René,\n\nanbei das Angebot: 40 Kühlschränke zu je 310 EUR.\n")
    msg.add_alternative("<p>Hallo René,</p><p>anbei das Angebot.</p>", subtype="html")
    if attachments is None:
        inner = EmailMessage()
        inner["From"] = "supplier@example.net"
        inner["Subject"] = "Lieferzeit"
        inner.set_content("Die Lieferzeit beträgt sechs Wochen.")
        attachments = [
            ("preise.csv", b"Modell,Preis\nKS-200,310\nKS-300,415\n", "text/csv"),
            ("lieferzeit.eml", inner.as_bytes(), "message/rfc822"),
        ]
    for name, data, mime in attachments:
        if mime == "message/rfc822":
            from email import message_from_bytes, policy

            msg.add_attachment(message_from_bytes(data, policy=policy.default), filename=name)
        else:
            maintype, subtype = mime.split("/", 1)
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def msg_message() -> bytes:
    """An Outlook .msg (a Compound File of MAPI property streams, per [MS-OXMSG]) written
    with extract-msg's own OLE writer: subject, sender, recipients, a plain body, and one
    attachment (a CSV file)."""
    from extract_msg.ole_writer import OleWriter

    writer = OleWriter()
    top = {
        "__substg1.0_001A001F": _utf16("IPM.Note"),
        "__substg1.0_0037001F": _utf16("Réunion budget 2025"),
        "__substg1.0_0C1A001F": _utf16("Håkon Berg"),
        "__substg1.0_0C1F001F": _utf16("hakon@example.no"),
        "__substg1.0_0E04001F": _utf16("Ingrid Ås"),
        "__substg1.0_1000001F": _utf16("Budsjettet for 2025 er 4,2 millioner kroner."),
        "__substg1.0_1035001F": _utf16("<budget-2025@example.no>"),
    }
    # The property stream of a top-level message: 32-byte header (reserved, next recipient
    # id, next attachment id, recipient count, attachment count, reserved) and fixed-size
    # properties of 16 bytes each: PR_MESSAGE_DELIVERY_TIME (0x0E060040) and
    # PR_CLIENT_SUBMIT_TIME (0x00390040) as FILETIMEs.
    filetime = (int(datetime(2024, 11, 4, 8, 15).timestamp()) + 11644473600) * 10_000_000
    header = struct.pack("<8xIIII8x", 1, 1, 1, 1)
    props = b"".join(struct.pack("<IIQ", tag, 0x6, filetime) for tag in (0x0E060040, 0x00390040))
    for name, data in top.items():
        writer.addEntry(name, data)
    writer.addEntry("__properties_version1.0", header + props)
    writer.addEntry("__nameid_version1.0", storage=True)  # named properties: none
    for stream in ("00020102", "00030102", "00040102"):
        writer.addEntry(f"__nameid_version1.0/__substg1.0_{stream}", b"")
    recip = "__recip_version1.0_#00000000"
    writer.addEntry(recip, storage=True)
    writer.addEntry(f"{recip}/__substg1.0_3001001F", _utf16("Ingrid Ås"))
    writer.addEntry(f"{recip}/__substg1.0_39FE001F", _utf16("ingrid@example.no"))
    writer.addEntry(
        f"{recip}/__properties_version1.0",
        struct.pack("<8x") + struct.pack("<IIQ", 0x0C150003, 0x6, 1),
    )
    attach = "__attach_version1.0_#00000000"
    writer.addEntry(attach, storage=True)
    writer.addEntry(f"{attach}/__substg1.0_3707001F", _utf16("budsjett.csv"))
    writer.addEntry(f"{attach}/__substg1.0_3704001F", _utf16("budsjett.csv"))
    writer.addEntry(f"{attach}/__substg1.0_370E001F", _utf16("text/csv"))
    writer.addEntry(
        f"{attach}/__substg1.0_37010102", "Post,Beløp\nLønn,3100000\nReiser,250000\n".encode()
    )
    writer.addEntry(
        f"{attach}/__properties_version1.0",
        struct.pack("<8x") + struct.pack("<IIQ", 0x37050003, 0x6, 1),  # PR_ATTACH_METHOD: by value
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
