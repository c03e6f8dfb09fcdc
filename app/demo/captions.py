"""Alt-text captions for the demo, in the styles a web crawl really produces.

Each base image has a few hand-written descriptions per language; templates wrap them the way
shops, blogs and stock sites do ("Stock Photo - ...", "... HD wallpaper", hashtags). A small share
of captions carries HTML-special characters or markup, because crawled alt text does and every
page of Loupe must escape it. Some captions are camera file names with no language at all, like
LAION-1B-nolang.
"""

from __future__ import annotations

import numpy as np

# ISO 639-1 code -> share of records. English is the majority, like LAION-2B-en vs -multi.
LANGUAGE_SHARES: dict[str, float] = {
    "en": 0.56,
    "de": 0.08,
    "fr": 0.07,
    "es": 0.07,
    "it": 0.04,
    "nl": 0.03,
    "pt": 0.04,
    "ja": 0.035,
    "zh": 0.035,
    "pl": 0.015,
    "ru": 0.015,
}
NOLANG_SHARE = 0.02  # captions with no confident language (LANGUAGE is null)
HTML_SHARE = 0.015  # captions with <, >, &, quotes

SUBJECTS: dict[str, dict[str, list[str]]] = {
    "astronaut": {
        "en": [
            "astronaut Eileen Collins in an orange flight suit",
            "NASA astronaut portrait with the American flag",
            "female astronaut posing next to a space shuttle model",
        ],
        "de": [
            "Astronautin Eileen Collins im orangefarbenen Raumanzug",
            "NASA-Astronautin vor der amerikanischen Flagge",
        ],
        "fr": [
            "l'astronaute Eileen Collins en combinaison orange",
            "portrait d'une astronaute de la NASA",
        ],
        "es": [
            "la astronauta Eileen Collins con traje naranja",
            "retrato de una astronauta de la NASA",
        ],
        "it": [
            "l'astronauta Eileen Collins in tuta arancione",
            "ritratto di un'astronauta della NASA",
        ],
        "nl": ["astronaut Eileen Collins in oranje ruimtepak", "portret van een NASA-astronaut"],
        "pt": [
            "a astronauta Eileen Collins com traje laranja",
            "retrato de uma astronauta da NASA",
        ],
        "ja": [
            "オレンジ色の宇宙服を着た宇宙飛行士アイリーン・コリンズ",
            "NASAの女性宇宙飛行士の肖像",
        ],
        "zh": ["身穿橙色宇航服的宇航员艾琳·柯林斯", "NASA女宇航员肖像"],
        "pl": ["astronautka Eileen Collins w pomarańczowym kombinezonie"],
        "ru": ["астронавт Эйлин Коллинз в оранжевом скафандре"],
    },
    "camera": {
        "en": [
            "photographer with a camera on a tripod",
            "black and white photo of a man behind a film camera",
            "cameraman shooting in a park",
        ],
        "de": ["Fotograf mit Kamera auf einem Stativ", "Kameramann im Park"],
        "fr": ["photographe avec un appareil sur trépied", "caméraman dans un parc"],
        "es": ["fotógrafo con una cámara sobre un trípode", "camarógrafo en un parque"],
        "it": ["fotografo con la macchina fotografica sul cavalletto"],
        "nl": ["fotograaf met een camera op statief"],
        "pt": ["fotógrafo com câmera no tripé"],
        "ja": ["三脚にカメラを据えた写真家", "公園で撮影するカメラマン"],
        "zh": ["三脚架上架着相机的摄影师", "公园里的摄影师"],
        "pl": ["fotograf z aparatem na statywie"],
        "ru": ["фотограф с камерой на штативе"],
    },
    "coffee": {
        "en": [
            "cup of espresso on a red saucer",
            "coffee cup on a wooden table",
            "morning coffee in a red cup with a spoon",
        ],
        "de": ["Espressotasse auf rotem Unterteller", "Kaffeetasse auf einem Holztisch"],
        "fr": ["tasse d'espresso sur une soucoupe rouge", "tasse de café sur une table en bois"],
        "es": ["taza de café expreso sobre un plato rojo", "taza de café en una mesa de madera"],
        "it": ["tazzina di espresso con piattino rosso", "caffè su un tavolo di legno"],
        "nl": ["kopje espresso op een rood schoteltje", "koffiekop op een houten tafel"],
        "pt": ["xícara de café expresso com pires vermelho", "café na mesa de madeira"],
        "ja": ["赤いソーサーにのったエスプレッソ", "木のテーブルの上のコーヒーカップ"],
        "zh": ["红色碟子上的一杯浓缩咖啡", "木桌上的咖啡杯"],
        "pl": ["filiżanka espresso na czerwonym spodku"],
        "ru": ["чашка эспрессо на красном блюдце"],
    },
    "chelsea": {
        "en": [
            "tabby cat looking at the camera",
            "close-up of a cat's face with green eyes",
            "cute kitten portrait",
        ],
        "de": ["getigerte Katze schaut in die Kamera", "Katzengesicht mit grünen Augen"],
        "fr": ["chat tigré qui regarde l'objectif", "portrait d'un chat aux yeux verts"],
        "es": ["gato atigrado mirando a la cámara", "cara de gato con ojos verdes"],
        "it": ["gatto tigrato che guarda l'obiettivo", "muso di gatto con occhi verdi"],
        "nl": ["cyperse kat kijkt in de camera", "kattengezicht met groene ogen"],
        "pt": ["gato malhado olhando para a câmera", "rosto de gato com olhos verdes"],
        "ja": ["カメラを見つめるトラ猫", "緑の目の猫の顔"],
        "zh": ["看着镜头的虎斑猫", "绿眼睛的猫咪特写"],
        "pl": ["pręgowany kot patrzy w obiektyw"],
        "ru": ["полосатая кошка смотрит в камеру"],
    },
    "coins": {
        "en": [
            "ancient Greek coins from Pompeii",
            "collection of old silver coins",
            "antique coins laid out in rows",
        ],
        "de": ["antike griechische Münzen aus Pompeji", "Sammlung alter Silbermünzen"],
        "fr": ["pièces grecques antiques de Pompéi", "collection de vieilles pièces d'argent"],
        "es": ["monedas griegas antiguas de Pompeya", "colección de monedas antiguas"],
        "it": ["antiche monete greche da Pompei", "collezione di monete d'argento"],
        "nl": ["oude Griekse munten uit Pompeii"],
        "pt": ["moedas gregas antigas de Pompeia"],
        "ja": ["ポンペイの古代ギリシャの硬貨", "古い銀貨のコレクション"],
        "zh": ["庞贝古城出土的古希腊钱币", "古银币收藏"],
        "pl": ["starożytne greckie monety z Pompejów"],
        "ru": ["древнегреческие монеты из Помпей"],
    },
    "horse": {
        "en": ["black horse silhouette", "horse silhouette clip art", "vector horse icon"],
        "de": ["schwarze Pferdesilhouette", "Pferd Silhouette Clipart"],
        "fr": ["silhouette de cheval noir", "cheval silhouette clipart"],
        "es": ["silueta de caballo negro", "caballo silueta vector"],
        "it": ["sagoma di cavallo nero"],
        "nl": ["zwart silhouet van een paard"],
        "pt": ["silhueta de cavalo preto"],
        "ja": ["黒い馬のシルエット", "馬のシルエットのイラスト"],
        "zh": ["黑色马匹剪影", "马的剪影矢量图"],
        "pl": ["czarna sylwetka konia"],
        "ru": ["силуэт чёрной лошади"],
    },
    "rocket": {
        "en": [
            "Falcon 9 rocket on the launch pad at night",
            "SpaceX rocket launch tower",
            "rocket ready for launch at Cape Canaveral",
        ],
        "de": ["Falcon-9-Rakete nachts auf der Startrampe", "Raketenstart in Cape Canaveral"],
        "fr": ["fusée Falcon 9 sur le pas de tir la nuit", "lancement de fusée à Cap Canaveral"],
        "es": [
            "cohete Falcon 9 en la plataforma de lanzamiento",
            "lanzamiento de cohete en Cabo Cañaveral",
        ],
        "it": ["razzo Falcon 9 sulla rampa di lancio di notte"],
        "nl": ["Falcon 9-raket 's nachts op het lanceerplatform"],
        "pt": ["foguete Falcon 9 na plataforma de lançamento"],
        "ja": ["夜の発射台に立つファルコン9ロケット", "ケープカナベラルのロケット打ち上げ"],
        "zh": ["夜间发射台上的猎鹰9号火箭", "卡纳维拉尔角火箭发射"],
        "pl": ["rakieta Falcon 9 na stanowisku startowym nocą"],
        "ru": ["ракета Falcon 9 на стартовой площадке ночью"],
    },
    "hubble": {
        "en": [
            "Hubble deep field galaxies",
            "thousands of galaxies in deep space",
            "space wallpaper with stars and galaxies",
        ],
        "de": ["Galaxien im Hubble Deep Field", "Sterne und Galaxien im Weltall"],
        "fr": ["galaxies du champ profond de Hubble", "étoiles et galaxies dans l'espace"],
        "es": ["galaxias del campo profundo del Hubble", "estrellas y galaxias en el espacio"],
        "it": ["galassie del campo profondo di Hubble"],
        "nl": ["sterrenstelsels in het Hubble Deep Field"],
        "pt": ["galáxias do campo profundo do Hubble"],
        "ja": ["ハッブル・ディープ・フィールドの銀河", "宇宙の星と銀河の壁紙"],
        "zh": ["哈勃深空场中的星系", "星空与星系壁纸"],
        "pl": ["galaktyki z głębokiego pola Hubble'a"],
        "ru": ["галактики глубокого поля Хаббла"],
    },
    "brick": {
        "en": ["grey brick wall texture", "seamless brick pattern background"],
        "de": ["graue Ziegelmauer Textur", "Backstein Hintergrund"],
        "fr": ["texture de mur de briques grises", "fond motif briques"],
        "es": ["textura de pared de ladrillo gris", "fondo de ladrillos"],
        "it": ["texture muro di mattoni grigi"],
        "nl": ["textuur van een grijze bakstenen muur"],
        "pt": ["textura de parede de tijolos cinza"],
        "ja": ["グレーのレンガ壁のテクスチャ"],
        "zh": ["灰色砖墙纹理"],
        "pl": ["tekstura szarego muru z cegły"],
        "ru": ["текстура серой кирпичной стены"],
    },
    "grass": {
        "en": ["close-up of grass texture", "green lawn background texture"],
        "de": ["Gras Textur Nahaufnahme", "Rasen Hintergrund"],
        "fr": ["texture d'herbe en gros plan", "fond de pelouse"],
        "es": ["textura de césped de cerca", "fondo de hierba"],
        "it": ["texture di erba da vicino"],
        "nl": ["close-up van grastextuur"],
        "pt": ["textura de grama de perto"],
        "ja": ["草のテクスチャ", "芝生の背景素材"],
        "zh": ["草地纹理特写", "草坪背景素材"],
        "pl": ["tekstura trawy z bliska"],
        "ru": ["текстура травы крупным планом"],
    },
    "gravel": {
        "en": ["gravel stones texture", "small pebbles background"],
        "de": ["Kies Textur", "Kieselsteine Hintergrund"],
        "fr": ["texture de gravier", "fond de petits cailloux"],
        "es": ["textura de grava", "fondo de piedritas"],
        "it": ["texture di ghiaia"],
        "nl": ["grindtextuur"],
        "pt": ["textura de cascalho"],
        "ja": ["砂利のテクスチャ"],
        "zh": ["碎石纹理"],
        "pl": ["tekstura żwiru"],
        "ru": ["текстура гравия"],
    },
    "text": {
        "en": ["handwritten notes on paper", "page of handwritten equations"],
        "de": ["handschriftliche Notizen auf Papier"],
        "fr": ["notes manuscrites sur papier"],
        "es": ["notas escritas a mano en papel"],
        "it": ["appunti scritti a mano su carta"],
        "nl": ["handgeschreven aantekeningen op papier"],
        "pt": ["anotações manuscritas no papel"],
        "ja": ["紙に手書きしたメモ"],
        "zh": ["纸上的手写笔记"],
        "pl": ["odręczne notatki na papierze"],
        "ru": ["рукописные заметки на бумаге"],
    },
    "retina": {
        "en": ["fundus photograph of a healthy retina", "human eye retina scan"],
        "de": ["Fundusfoto einer gesunden Netzhaut", "Netzhaut des menschlichen Auges"],
        "fr": ["photographie du fond d'œil normal", "rétine de l'œil humain"],
        "es": ["fotografía de fondo de ojo normal", "retina del ojo humano"],
        "it": ["fotografia del fondo oculare normale"],
        "nl": ["foto van een gezond netvlies"],
        "pt": ["fotografia de fundo de olho normal"],
        "ja": ["正常な眼底写真", "人間の網膜"],
        "zh": ["正常眼底照片", "人眼视网膜"],
        "pl": ["zdjęcie dna oka zdrowej siatkówki"],
        "ru": ["фотография глазного дна здоровой сетчатки"],
    },
    "ihc": {
        "en": [
            "immunohistochemistry stained tissue under the microscope",
            "colon glands histology slide",
        ],
        "de": ["immunhistochemisch gefärbtes Gewebe unter dem Mikroskop"],
        "fr": ["tissu coloré par immunohistochimie au microscope"],
        "es": ["tejido teñido por inmunohistoquímica al microscopio"],
        "it": ["tessuto colorato con immunoistochimica al microscopio"],
        "nl": ["immunohistochemisch gekleurd weefsel onder de microscoop"],
        "pt": ["tecido corado por imuno-histoquímica ao microscópio"],
        "ja": ["免疫組織化学染色した組織の顕微鏡写真"],
        "zh": ["显微镜下的免疫组化染色组织"],
        "pl": ["tkanka barwiona immunohistochemicznie pod mikroskopem"],
        "ru": ["ткань с иммуногистохимическим окрашиванием под микроскопом"],
    },
    "cell": {
        "en": ["single cell floating in saline, microscopy", "quantitative phase image of a cell"],
        "de": ["einzelne Zelle in Kochsalzlösung, Mikroskopie"],
        "fr": ["cellule isolée dans une solution saline, microscopie"],
        "es": ["célula aislada en solución salina, microscopía"],
        "it": ["singola cellula in soluzione salina, microscopia"],
        "nl": ["losse cel in zoutoplossing, microscopie"],
        "pt": ["célula isolada em solução salina, microscopia"],
        "ja": ["生理食塩水に浮かぶ細胞の顕微鏡画像"],
        "zh": ["盐水中漂浮的单个细胞显微图像"],
        "pl": ["pojedyncza komórka w soli fizjologicznej"],
        "ru": ["клетка в физиологическом растворе, микроскопия"],
    },
    "clock": {
        "en": ["blurry wall clock", "motion blur photo of a clock"],
        "de": ["verschwommene Wanduhr", "Uhr mit Bewegungsunschärfe"],
        "fr": ["horloge murale floue", "horloge avec flou de mouvement"],
        "es": ["reloj de pared borroso", "reloj con desenfoque de movimiento"],
        "it": ["orologio da parete sfocato"],
        "nl": ["wazige wandklok"],
        "pt": ["relógio de parede desfocado"],
        "ja": ["ぶれた壁掛け時計"],
        "zh": ["模糊的挂钟"],
        "pl": ["rozmazany zegar ścienny"],
        "ru": ["размытые настенные часы"],
    },
    "colorwheel": {
        "en": ["RGB colour wheel", "color spectrum circle gradient"],
        "de": ["RGB-Farbkreis", "Farbspektrum Kreis"],
        "fr": ["cercle chromatique RVB", "roue des couleurs"],
        "es": ["rueda de colores RGB", "círculo cromático"],
        "it": ["ruota dei colori RGB"],
        "nl": ["RGB-kleurenwiel"],
        "pt": ["roda de cores RGB"],
        "ja": ["RGBカラーホイール", "色相環"],
        "zh": ["RGB色轮", "色相环渐变"],
        "pl": ["koło barw RGB"],
        "ru": ["цветовой круг RGB"],
    },
    "checkerboard": {
        "en": ["black and white checkerboard pattern", "chessboard background"],
        "de": ["Schachbrettmuster schwarz weiß"],
        "fr": ["motif damier noir et blanc"],
        "es": ["patrón de tablero de ajedrez blanco y negro"],
        "it": ["motivo a scacchi bianco e nero"],
        "nl": ["zwart-wit dambordpatroon"],
        "pt": ["padrão xadrez preto e branco"],
        "ja": ["白黒のチェッカーボード模様"],
        "zh": ["黑白棋盘格图案"],
        "pl": ["czarno-biała szachownica"],
        "ru": ["чёрно-белый шахматный узор"],
    },
    "grace_hopper": {
        "en": [
            "portrait of Rear Admiral Grace Hopper",
            "Grace Hopper in US Navy uniform",
            "computer scientist Grace Hopper official portrait",
        ],
        "de": ["Porträt von Grace Hopper in Uniform der US Navy"],
        "fr": ["portrait de Grace Hopper en uniforme de l'US Navy"],
        "es": ["retrato de Grace Hopper con uniforme de la Marina"],
        "it": ["ritratto di Grace Hopper in uniforme della Marina"],
        "nl": ["portret van Grace Hopper in marine-uniform"],
        "pt": ["retrato de Grace Hopper com uniforme da Marinha"],
        "ja": ["海軍の制服を着たグレース・ホッパーの肖像"],
        "zh": ["身穿海军制服的格蕾丝·霍珀肖像"],
        "pl": ["portret Grace Hopper w mundurze marynarki"],
        "ru": ["портрет Грейс Хоппер в форме ВМС США"],
    },
    "gift": {
        "en": ["blue gift box with a silver ribbon", "present clip art", "birthday gift icon"],
        "de": ["blaue Geschenkbox mit silberner Schleife", "Geschenk Clipart"],
        "fr": ["boîte cadeau bleue avec ruban argenté", "cadeau clipart"],
        "es": ["caja de regalo azul con lazo plateado", "regalo clipart"],
        "it": ["scatola regalo blu con fiocco argentato"],
        "nl": ["blauwe cadeaudoos met zilveren strik"],
        "pt": ["caixa de presente azul com laço prateado"],
        "ja": ["銀のリボンの青いギフトボックス", "プレゼントのイラスト"],
        "zh": ["系着银色丝带的蓝色礼盒", "礼物剪贴画"],
        "pl": ["niebieskie pudełko prezentowe ze srebrną wstążką"],
        "ru": ["синяя подарочная коробка с серебряной лентой"],
    },
}

# Plain templates: how the description shows up on shops, blogs and galleries.
TEMPLATES: dict[str, list[str]] = {
    "en": [
        "{S}",
        "{s}",
        "a photo of {s}",
        "Close-up of {s}",
        "{S} HD wallpaper",
        "{S} #{tag} #photography",
        "Buy {s} canvas print",
        "{S} by {name}",
        "{S} | {site}",
        "{S}, {year}",
        "{S} - image {num}",
        "Image result for {s}",
    ],
    "de": [
        "{S}",
        "Foto von {s}",
        "{S} – Bild {num}",
        "Nahaufnahme: {s}",
        "{S} Poster online kaufen",
        "{S} | {site}",
    ],
    "fr": [
        "{S}",
        "Photo de {s}",
        "Gros plan : {s}",
        "{S} - image {num}",
        "Affiche {s} en vente",
        "{S} | {site}",
    ],
    "es": [
        "{S}",
        "Foto de {s}",
        "Primer plano de {s}",
        "{S} - imagen {num}",
        "Comprar póster de {s}",
        "{S} | {site}",
    ],
    "it": ["{S}", "Foto di {s}", "Primo piano di {s}", "{S} - immagine {num}", "{S} | {site}"],
    "nl": ["{S}", "Foto van {s}", "Close-up van {s}", "{S} kopen als poster", "{S} | {site}"],
    "pt": ["{S}", "Foto de {s}", "Close de {s}", "{S} - imagem {num}", "{S} | {site}"],
    "ja": ["{S}", "{s}の写真", "{s}のクローズアップ", "{s}の高画質壁紙", "{s} | {site}"],
    "zh": ["{S}", "{s}的照片", "{s}特写", "高清{s}壁纸", "{s} | {site}"],
    "pl": ["{S}", "Zdjęcie: {s}", "{S} - obraz {num}"],
    "ru": ["{S}", "Фото: {s}", "{S} - изображение {num}"],
}

# Stock-photo templates: their images are the ones most likely to carry a watermark.
STOCK_TEMPLATES: dict[str, list[str]] = {
    "en": [
        "Stock Photo - {S}",
        "{S} - Stock Image",
        "{S} Royalty Free Stock Photo",
        "{S} stock image. Image of {kw}",
        "{S} Stock Photos and Images. {num} {S} pictures",
        "Royalty-free stock photo ID: {num} - {s}",
    ],
    "de": ["Stockfoto - {S}", "{S} – Stockfoto", "{S} Lizenzfreies Bild {num}"],
    "fr": ["Banque d'images - {S}", "{S} - Photo de stock libre de droits"],
    "es": ["Foto de archivo - {S}", "{S} - Foto de stock libre de derechos"],
    "it": ["Foto stock - {S}", "{S} - Immagine stock royalty free"],
    "nl": ["Stockfoto - {S}", "{S} - Royalty-vrije stockfoto"],
    "pt": ["Banco de imagens - {S}", "{S} - Foto de stock livre de direitos"],
    "ja": ["{s}のストックフォト", "{s} - 写真素材 {num}"],
    "zh": ["{s} 图片素材", "{s} - 正版图库 {num}"],
    "pl": ["Zdjęcie stockowe - {S}"],
    "ru": ["Стоковое фото - {S}"],
}

# Added to captions of grey or sepia variants now and then: people describe what they see.
MONOCHROME: dict[str, str] = {
    "en": "black and white",
    "de": "schwarz-weiß",
    "fr": "noir et blanc",
    "es": "blanco y negro",
    "it": "bianco e nero",
    "nl": "zwart-wit",
    "pt": "preto e branco",
    "ja": "モノクロ",
    "zh": "黑白",
    "pl": "czarno-białe",
    "ru": "чёрно-белое",
}

# Alt text with characters a page must escape; two are the kind of probe that crawls do contain.
HTML_TEMPLATES: list[str] = [
    "<b>{S}</b> & more",
    '{S} "limited edition" print & frame',
    "{S} – it's <3",
    "Tom & Jerry's <i>{s}</i>",
    '{S} <script>alert("x")</script>',
    "<img src=x onerror=alert(1)> {s}",
    "{S} 5 < 10 > 3 && 'quoted'",
    "&lt;{s}&gt; &amp; friends",
]

_NAMES = ["Anna Müller", "J. Smith", "photo_lover_88", "Lucía Gómez", "Kenji", "mark.t", "Olga"]
_SITES = ["Photoshare", "Pinboard", "Bilderwelt", "Wallhaven", "Flickr-like", "ShopMart"]
_TAGS = ["nature", "art", "design", "vintage", "science", "space", "instagood", "texture"]
_KEYWORDS = ["background", "closeup", "object", "detail", "color", "isolated", "single", "view"]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fill(rng: np.random.Generator, template: str, subject: str) -> str:
    return template.format(
        S=_cap(subject),
        s=subject,
        tag=rng.choice(_TAGS),
        name=rng.choice(_NAMES),
        site=rng.choice(_SITES),
        year=int(rng.integers(2008, 2022)),
        num=int(rng.integers(1000, 99_999_999)),
        kw=", ".join(rng.choice(_KEYWORDS, size=3, replace=False)),
    )


def pick_language(rng: np.random.Generator) -> str | None:
    """A language code by LANGUAGE_SHARES, or None for a caption with no language."""
    if rng.random() < NOLANG_SHARE:
        return None
    codes = list(LANGUAGE_SHARES)
    shares = np.array([LANGUAGE_SHARES[c] for c in codes])
    return codes[int(rng.choice(len(codes), p=shares / shares.sum()))]


def nolang_caption(rng: np.random.Generator) -> str:
    """Camera file names and the like: what alt text is when nobody wrote one."""
    style = int(rng.integers(0, 4))
    if style == 0:
        return f"IMG_{int(rng.integers(1, 9999)):04d}.JPG"
    if style == 1:
        return f"DSC{int(rng.integers(1, 99999)):05d}"
    if style == 2:
        day = (
            f"{int(rng.integers(2012, 2022))}{int(rng.integers(1, 13)):02d}"
            f"{int(rng.integers(1, 29)):02d}"
        )
        time = (
            f"{int(rng.integers(0, 24)):02d}{int(rng.integers(0, 60)):02d}"
            f"{int(rng.integers(0, 60)):02d}"
        )
        return f"{day}_{time}"
    return f"image ({int(rng.integers(1, 40))})"


def make_caption(
    rng: np.random.Generator,
    base: str,
    language: str,
    *,
    stock: bool,
    monochrome: bool,
    html: bool = False,
) -> str:
    """One caption describing ``base`` in ``language``, in a crawl-like style."""
    subjects = SUBJECTS[base].get(language) or SUBJECTS[base]["en"]
    subject = str(rng.choice(subjects))
    if monochrome and rng.random() < 0.5:
        subject = f"{subject}, {MONOCHROME[language]}"
    if html:
        template = str(rng.choice(HTML_TEMPLATES))
    elif stock:
        template = str(rng.choice(STOCK_TEMPLATES[language]))
    else:
        template = str(rng.choice(TEMPLATES[language]))
    return _fill(rng, template, subject)
