"""A court registry shaped like the published figures (domain-facts.md)."""
from __future__ import annotations

import numpy as np
import pandas as pd

# province code -> (name, abbreviation used in case numbers, relative caseload)
PROVINCES = {
    "11": ("北京市", "京", 4.0), "12": ("天津市", "津", 2.0), "13": ("河北省", "冀", 5.0),
    "14": ("山西省", "晋", 2.2), "15": ("内蒙古自治区", "蒙", 1.8), "21": ("辽宁省", "辽", 3.5),
    "22": ("吉林省", "吉", 2.2), "23": ("黑龙江省", "黑", 2.4), "31": ("上海市", "沪", 4.0),
    "32": ("江苏省", "苏", 7.5), "33": ("浙江省", "浙", 7.5), "34": ("安徽省", "皖", 4.0),
    "35": ("福建省", "闽", 3.5), "36": ("江西省", "赣", 2.6), "37": ("山东省", "鲁", 6.5),
    "41": ("河南省", "豫", 6.0), "42": ("湖北省", "鄂", 3.5), "43": ("湖南省", "湘", 3.5),
    "44": ("广东省", "粤", 9.0), "45": ("广西壮族自治区", "桂", 3.0), "46": ("海南省", "琼", 0.8),
    "50": ("重庆市", "渝", 3.0), "51": ("四川省", "川", 5.5), "52": ("贵州省", "贵", 2.5),
    "53": ("云南省", "云", 2.6), "54": ("西藏自治区", "藏", 0.2), "61": ("陕西省", "陕", 2.8),
    "62": ("甘肃省", "甘", 1.5), "63": ("青海省", "青", 0.4), "64": ("宁夏回族自治区", "宁", 0.6),
    "65": ("新疆维吾尔自治区", "新", 1.8), "66": ("新疆生产建设兵团", "兵", 0.3),
}

# Share of the national caseload by court level: basic courts carry ~88%.
LEVEL_SHARE = {"BASIC": 0.88, "INTERMEDIATE": 0.095, "HIGH": 0.012, "SPECIAL": 0.012, "SPC": 0.001}


def _split(total: int, weights: np.ndarray) -> np.ndarray:
    """Integer counts >= 1 that add up to `total`, roughly proportional to weights."""
    raw = weights / weights.sum() * total
    counts = np.maximum(1, np.floor(raw)).astype(int)
    order = np.argsort(-(raw - np.floor(raw)))
    i = 0
    while counts.sum() < total:
        counts[order[i % len(order)]] += 1
        i += 1
    return counts


def make_registry(profile: dict, rng: np.random.Generator) -> pd.DataFrame:
    """Courts with their parent, province and `size`: their share of the caseload."""
    codes = list(PROVINCES) if profile["provinces"] == "all" else [f"{p:02d}" for p in profile["provinces"]]
    weights = np.array([PROVINCES[c][2] for c in codes])
    if "intermediate" in profile:
        n_mid = _split(profile["intermediate"], weights)
        n_basic = _split(profile["basic"], weights)
        n_special = _split(profile["special"], weights) if profile["special"] else np.zeros(len(codes), int)
    else:
        n_mid = np.full(len(codes), profile["intermediate_per_province"])
        n_basic = n_mid * profile["basic_per_intermediate"]
        n_special = np.array([1 if i < profile["special"] else 0 for i in range(len(codes))])
    rows = [("SPC", "最高人民法院", "SPC", "", "", "", 0)]
    for code, mid, basic, special in zip(codes, n_mid, n_basic, n_special):
        pname = PROVINCES[code][0]
        high = f"H{code}"
        rows.append((high, f"{pname}高级人民法院", "HIGH", "SPC", code, pname, 0))
        mids = [f"I{code}{i + 1:02d}" for i in range(mid)]
        for i, m in enumerate(mids):
            rows.append((m, f"{pname}第{i + 1}中级人民法院", "INTERMEDIATE", high, code, pname, 0))
        for j in range(basic):
            parent = mids[j % len(mids)]
            rows.append((f"B{code}{j + 1:04d}", f"{pname}第{j + 1}基层人民法院", "BASIC", parent, code, pname,
                         int(rng.random() < 0.3)))
        for k in range(special):
            rows.append((f"S{code}{k + 1:02d}", f"{pname}第{k + 1}专门人民法院", "SPECIAL", high, code, pname, 0))
    courts = pd.DataFrame(rows, columns=["court_id", "name", "level", "parent_id", "province_code",
                                         "province_name", "mobile_pilot"])
    # Heavy-tailed sizes within a level (a Pudong next to a small rural court).
    size = np.exp(rng.normal(0, profile.get("size_spread", 0.9), len(courts)))
    for level, share in LEVEL_SHARE.items():
        mask = courts["level"].eq(level).to_numpy()
        if mask.any():
            size[mask] = size[mask] / size[mask].sum() * share
    courts["size"] = size / size.sum()
    courts["internet"] = 0
    for code in profile.get("internet_courts", []):  # Hangzhou, Beijing, Guangzhou: basic courts that sit online
        basic = courts.index[(courts["province_code"] == f"{code:02d}") & (courts["level"] == "BASIC")]
        if len(basic):
            courts.loc[basic[0], ["internet", "name"]] = 1, f"{PROVINCES[f'{code:02d}'][0]}互联网法院"
    courts["abbr"] = courts["province_code"].map(lambda c: PROVINCES.get(c, ("", "最", 0))[1])
    return courts


def high_court(courts: pd.DataFrame) -> pd.Series:
    parent = dict(zip(courts["court_id"], courts["parent_id"]))
    level = dict(zip(courts["court_id"], courts["level"]))

    def up(c):
        while level[c] not in ("HIGH", "SPC"):
            c = parent[c]
        return c if level[c] == "HIGH" else None

    return courts["court_id"].map(up)
