"""Search of online services and procedures: diacritics ignored, ranked, typo tolerant, filtered."""

from __future__ import annotations

import httpx
import pytest

from services.catalogue.service.fixtures import OFFERS

pytestmark = pytest.mark.integration


async def search(api: httpx.AsyncClient, path: str = "/services", **params: object) -> list[dict]:
    answer = await api.get(path, params={"limit": 100, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def procedures_of(items: list[dict]) -> list[str]:
    return [item["procedure_code"] for item in items]


async def test_words_without_diacritics_find_the_driving_licence_renewal(api: httpx.AsyncClient) -> None:
    items = await search(api, q="cap giay phep lai xe")
    renewals = [i for i in items if i["procedure_code"] == "1.002804"]
    assert {i["agency_code"] for i in renewals} == set(OFFERS["1.002804"][0])
    assert renewals[0]["procedure_name"] == "Cấp đổi giấy phép lái xe"
    # Both driving-licence procedures come before anything else.
    assert set(procedures_of(items[:8])) == {"1.002804", "1.002796"}


async def test_birth_registration_is_found_with_or_without_diacritics(api: httpx.AsyncClient) -> None:
    plain = await search(api, q="dang ky khai sinh")
    accented = await search(api, q="Đăng ký khai sinh")
    assert procedures_of(plain[:5]) == ["1.001193"] * 5
    assert [i["id"] for i in accented] == [i["id"] for i in plain]


async def test_d_with_stroke_folds_to_d(api: httpx.AsyncClient) -> None:
    plain = await search(api, q="da nang", agency="000.00.01.H48")
    stroked = await search(api, q="ĐÀ NẴNG", agency="000.00.01.H48")
    assert [i["agency_name"] for i in plain] == ["Sở Xây dựng thành phố Đà Nẵng"]
    assert [i["id"] for i in stroked] == [i["id"] for i in plain]


async def test_the_closest_match_ranks_first(api: httpx.AsyncClient) -> None:
    renewal = await search(api, q="cap doi giay phep lai xe")
    international = await search(api, q="giay phep lai xe quoc te")
    assert procedures_of(renewal[:5]) == ["1.002804"] * 5
    assert procedures_of(international[:3]) == ["1.002796"] * 3
    assert renewal[0]["score"] > renewal[5]["score"]


async def test_a_typo_still_finds_the_service(api: httpx.AsyncClient) -> None:
    items = await search(api, q="dang ky khai sihn")
    assert procedures_of(items[:5]) == ["1.001193"] * 5


async def test_nonsense_finds_nothing(api: httpx.AsyncClient) -> None:
    answer = await api.get("/services", params={"q": "qqqxxzzw"})
    assert answer.json() == {"items": [], "next": None}


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("agency", "000.00.01.H22", "agency_code"),
        ("province", "H29", "province_code"),
        ("sector", "HT", "sector_code"),
        ("level", "commune", "level"),
        ("online_level", "partial", "online_level"),
    ],
)
async def test_each_filter_keeps_only_matching_services(
    api: httpx.AsyncClient, name: str, value: str, field: str
) -> None:
    items = await search(api, **{name: value})
    assert items and all(item[field] == value for item in items)


async def test_filters_select_the_expected_services(api: httpx.AsyncClient) -> None:
    assert sorted(procedures_of(await search(api, agency="000.00.01.H22"))) == ["1.002796", "1.002804"]
    assert sorted(set(procedures_of(await search(api, online_level="partial")))) == ["1.005398", "1.008417", "1.009974"]
    in_hanoi = [a for agencies, _ in OFFERS.values() for a in agencies if a.endswith(".H29")]
    assert in_hanoi
    assert sorted(i["agency_code"] for i in await search(api, province="H29")) == sorted(in_hanoi)
    assert len(await search(api, q="khai sinh", province="H22")) == 2
    assert await search(api, q="khai sinh", sector="DB") == []


async def test_procedures_are_searched_by_words_and_filtered(api: httpx.AsyncClient) -> None:
    found = await search(api, "/procedures", q="ly lich tu phap")
    assert found[0]["code"] == "2.000488"
    assert found[0]["name"] == "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam"
    communal = await search(api, "/procedures", level="commune")
    assert sorted(p["code"] for p in communal) == ["1.001193", "1.004873", "1.009974"]
    assert [p["code"] for p in await search(api, "/procedures", sector="DL")] == ["1.008417"]


def offered(where) -> list[str]:  # type: ignore[no-untyped-def]
    """Procedure codes of the fixtures offered by an agency / at an online level satisfying ``where``."""
    return sorted(code for code, (agencies, level) in OFFERS.items() if any(where(a, level) for a in agencies))


async def codes(api: httpx.AsyncClient, **params: object) -> list[str]:
    return sorted(p["code"] for p in await search(api, "/procedures", **params))


async def test_procedures_are_filtered_by_the_agency_offering_them(api: httpx.AsyncClient) -> None:
    assert await codes(api, agency="000.00.01.H22") == offered(lambda a, _: a == "000.00.01.H22")
    assert await codes(api, agency="000.00.00.G05") == ["1.000286"]
    assert await codes(api, agency="000.00.09.H22") == []


async def test_procedures_are_filtered_by_the_province_of_their_services(api: httpx.AsyncClient) -> None:
    in_province = {a["code"] for a in (await api.get("/agencies", params={"province": "H48"})).json()["items"]}
    expected = offered(lambda a, _: a in in_province)
    assert expected and await codes(api, province="H48") == expected


async def test_procedures_are_filtered_by_online_level_and_combine_with_words_and_sector(
    api: httpx.AsyncClient,
) -> None:
    assert await codes(api, online_level="partial") == offered(lambda _, level: level == "partial")
    assert await codes(api, q="giay phep", online_level="partial") == ["1.009974"]
    assert await codes(api, q="giay phep", agency="000.00.01.H22", sector="DB") == ["1.002796", "1.002804"]
    assert await codes(api, agency="000.00.01.H22", sector="HT") == []


async def test_the_procedure_filters_are_part_of_the_cursor(api: httpx.AsyncClient) -> None:
    first = (await api.get("/procedures", params={"province": "H22", "limit": 1})).json()
    assert first["next"] is not None
    other = await api.get("/procedures", params={"province": "H29", "limit": 1, "cursor": first["next"]})
    assert other.status_code == 400


async def test_the_last_word_matches_as_a_prefix_while_typing(api: httpx.AsyncClient) -> None:
    items = await search(api, q="giay chung nhan xuat x")
    assert procedures_of(items) == ["2.000196"]
    assert items[0]["procedure_name"] == "Cấp Giấy chứng nhận xuất xứ hàng hóa (C/O) ưu đãi"


@pytest.mark.parametrize("q", ["!!!", "'", "a:* & b", "(", "\\"])
async def test_query_syntax_characters_are_plain_text(api: httpx.AsyncClient, q: str) -> None:
    answer = await api.get("/services", params={"q": q})
    assert answer.status_code == 200
    assert answer.json()["items"] == []
