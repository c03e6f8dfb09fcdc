"""LAION-shaped parquet metadata at any size, generated vectorised and written in chunks.

The rows look like the LAION-5B "-joined" metadata files (``SAMPLE_ID, URL, TEXT, HEIGHT,
WIDTH, LICENSE, NSFW, similarity, LANGUAGE, punsafe, pwatermark, aesthetic, md5``) with the
distributions that matter for query speed:

* about 50,000 source domains with a Zipf distribution (a few CDNs hold several per cent of
  the rows, most domains a handful), URLs with realistic path shapes;
* captions composed from per-language vocabularies (stock-photo phrasing, product words,
  brands and model codes, and a 50,000-word long tail) with Zipfian word frequencies, so that
  BM25 has common words, rare words and everything between;
* English ~45 %, then de, fr, es, ru, ja, zh, it, pt, pl, nl and a long tail, ~8 % null;
* similarity above LAION's thresholds (0.28 English, 0.26 other languages), skewed right;
  punsafe heavy near 0 with a tail above 0.5; aesthetic ~ N(5.2, 0.9); mostly "?" licences.

No row ever passes through Python one at a time: each chunk is numpy index arrays turned
into strings by pyarrow ``take`` and ``binary_join_element_wise``. Output is deterministic for
a given ``seed`` and chunk size. Other benchmarks (vectors, search) can reuse
:func:`generate_laion_parquet` and the word lists.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

GENERATOR_VERSION = 1
META_FILE = "generated.json"

# --- languages ----------------------------------------------------------------------------------
# (code, share). None is "no language detected" (LAION-1B-nolang style rows).
LANGUAGE_SHARES: tuple[tuple[str | None, float], ...] = (
    ("en", 45.0),
    (None, 8.0),
    ("de", 6.5),
    ("fr", 6.0),
    ("es", 5.5),
    ("ru", 5.0),
    ("ja", 4.0),
    ("zh", 3.5),
    ("it", 3.0),
    ("pt", 3.0),
    ("pl", 2.0),
    ("nl", 2.0),
    ("tr", 0.9),
    ("sv", 0.7),
    ("cs", 0.6),
    ("ko", 0.6),
    ("vi", 0.5),
    ("id", 0.5),
    ("ar", 0.45),
    ("fa", 0.4),
    ("uk", 0.4),
    ("hu", 0.35),
    ("el", 0.3),
    ("ro", 0.3),
    ("da", 0.3),
    ("fi", 0.25),
    ("no", 0.25),
    ("th", 0.2),
    ("he", 0.15),
    ("bg", 0.15),
    ("sk", 0.12),
    ("hr", 0.1),
    ("lt", 0.08),
    ("sl", 0.07),
    ("ca", 0.07),
    ("et", 0.05),
    ("lv", 0.05),
    ("hi", 0.05),
    ("ms", 0.04),
    ("sr", 0.03),
    ("is", 0.02),
    ("eu", 0.02),
    ("gl", 0.02),
    ("cy", 0.01),
)

# --- caption vocabularies -----------------------------------------------------------------------
# One entry per language with its own words; every other language (and null) uses "other",
# which is English-like, as LAION's language detection is noisy on short product captions.
# Slots, in caption order: prefix adjective noun context suffix ("|"-separated, Zipf by rank).
_VOCAB_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "prefix": "Photo of|Stock Photo -|Close-up of|Image of|Portrait of|Vector illustration of|"
        "Picture of|Royalty free image of|Set of|Top view of|Aerial view of|Cartoon of|"
        "Drawing of|The|A|New",
        "adjective": "black|white|red|blue|green|vintage|modern|beautiful|cute|small|large|old|new|"
        "wooden|yellow|pink|happy|young|elegant|classic|luxury|abstract|colorful|rustic|"
        "handmade|retro|minimalist|fresh|golden|silver|dark|bright|little|big|simple|funny|"
        "cozy|organic|natural|creative|traditional|winter|summer|autumn|spring|floral|striped|"
        "leather|cotton|ceramic|glass|metal|plastic|portable|wireless|digital|professional|"
        "unique|antique|sleek",
        "noun": "woman|man|dress|cat|dog|house|car|chair|table|shoes|shirt|bag|ring|necklace|"
        "flowers|cake|coffee|beach|mountain|city|girl|boy|family|wedding|kitchen|bedroom|"
        "living room|garden|logo|icon|pattern|background|wallpaper|poster|t-shirt|hoodie|jacket|"
        "watch|lamp|sofa|bicycle|truck|phone case|laptop|book|cup|mug|bottle|sunset|forest|"
        "lake|river|bird|horse|baby|couple|team|office|street|building|bridge|church|castle|"
        "tree|rose|tulip|pizza|burger|salad|bread|wine|beer|guitar|piano|painting|sculpture|"
        "map|card|invitation|sticker|mask|hat|scarf|socks|jeans|skirt|sweater|earrings|"
        "bracelet|pendant|sneakers|boots|sandals|backpack|wallet|sunglasses|toy|doll|"
        "teddy bear|puzzle|game|ball|tent|boat|airplane|train|motorcycle|tractor|vase|pillow|"
        "blanket|rug|curtain|mirror|clock|candle|basket|box|plate|bowl|knife|fork|spoon|pan",
        "context": "on white background|isolated on white|in the park|at sunset|on the beach|"
        "in the kitchen|for sale|with flowers|in winter|on a wooden table|in the city|at night|"
        "in the garden|with text|for women|for men|for kids|on black background|in the snow|"
        "under the sky|near the sea|in the forest",
        "suffix": "- Stock Photo|- Buy online|- Free Shipping|HD Wallpaper|for sale|"
        "- Download Free Vector|2019|2020|2021|stock image|- Etsy|(Pack of 2)|Size M|Size L|"
        "High Quality|Clipart|PNG|royalty free",
    },
    "de": {
        "prefix": "Foto von|Bild von|Nahaufnahme von|Porträt von|Illustration von|Der|Die|Das|Neu",
        "adjective": "schwarz|weiß|rot|blau|grün|modern|schöne|kleine|große|alte|neue|hölzerne|"
        "gelbe|rosa|elegante|klassische|luxus|bunte|rustikale|handgemachte|retro|frische|"
        "goldene|silberne|dunkle|helle|einfache|lustige|gemütliche|natürliche|traditionelle|"
        "winterliche|sommerliche",
        "noun": "Frau|Mann|Kleid|Katze|Hund|Haus|Auto|Stuhl|Tisch|Schuhe|Hemd|Tasche|Ring|"
        "Halskette|Blumen|Kuchen|Kaffee|Strand|Berg|Stadt|Mädchen|Junge|Familie|Hochzeit|Küche|"
        "Schlafzimmer|Wohnzimmer|Garten|Muster|Hintergrund|Tapete|Poster|Jacke|Uhr|Lampe|Sofa|"
        "Fahrrad|Buch|Tasse|Flasche|Sonnenuntergang|Wald|See|Fluss|Vogel|Pferd|Baby|Paar|Büro|"
        "Straße|Gebäude|Brücke|Kirche|Burg|Baum|Rose|Brot|Wein|Bier|Gitarre|Gemälde|Karte|"
        "Mütze|Schal|Socken|Ohrringe|Armband|Stiefel|Rucksack|Spielzeug|Puppe|Zelt|Boot|Zug|"
        "Vase|Kissen|Decke|Teppich|Spiegel|Kerze|Korb|Teller|Schüssel",
        "context": "auf weißem Hintergrund|im Park|bei Sonnenuntergang|am Strand|in der Küche|"
        "zu verkaufen|mit Blumen|im Winter|auf einem Holztisch|in der Stadt|bei Nacht|"
        "im Garten|für Damen|für Herren|für Kinder|im Schnee",
        "suffix": "- Stockfoto|kaufen|- Online kaufen|- Kostenloser Versand|Größe M|Gr. 38|"
        "günstig|Neu & OVP|HD Hintergrundbild",
    },
    "fr": {
        "prefix": "Photo de|Image de|Gros plan de|Portrait de|Illustration de|Le|La|Les|Nouveau",
        "adjective": "noir|blanc|rouge|bleu|vert|moderne|belle|petit|grand|vieux|nouvelle|"
        "en bois|jaune|rose|élégant|classique|luxe|coloré|rustique|fait main|rétro|frais|doré|"
        "argenté|sombre|lumineux|simple|drôle|naturel|traditionnel|vintage",
        "noun": "femme|homme|robe|chat|chien|maison|voiture|chaise|table|chaussures|chemise|sac|"
        "bague|collier|fleurs|gâteau|café|plage|montagne|ville|fille|garçon|famille|mariage|"
        "cuisine|chambre|salon|jardin|motif|fond|affiche|veste|montre|lampe|canapé|vélo|livre|"
        "tasse|bouteille|coucher de soleil|forêt|lac|rivière|oiseau|cheval|bébé|couple|bureau|"
        "rue|bâtiment|pont|église|château|arbre|pain|vin|bière|guitare|tableau|carte|chapeau|"
        "écharpe|chaussettes|boucles d'oreilles|bracelet|bottes|sac à dos|jouet|poupée|tente|"
        "bateau|train|vase|coussin|couverture|tapis|miroir|bougie|panier|assiette|bol",
        "context": "sur fond blanc|dans le parc|au coucher du soleil|sur la plage|"
        "dans la cuisine|à vendre|avec des fleurs|en hiver|sur une table en bois|dans la ville|"
        "la nuit|dans le jardin|pour femme|pour homme|pour enfants|sous la neige",
        "suffix": "- Photo stock|pas cher|- Achat en ligne|- Livraison gratuite|Taille M|neuf|"
        "promo|fond d'écran HD",
    },
    "es": {
        "prefix": "Foto de|Imagen de|Primer plano de|Retrato de|Ilustración de|El|La|Los|Nuevo",
        "adjective": "negro|blanco|rojo|azul|verde|moderno|hermosa|pequeño|grande|viejo|nueva|"
        "de madera|amarillo|rosa|elegante|clásico|lujo|colorido|rústico|hecho a mano|retro|"
        "fresco|dorado|plateado|oscuro|brillante|sencillo|divertido|natural|tradicional|vintage",
        "noun": "mujer|hombre|vestido|gato|perro|casa|coche|silla|mesa|zapatos|camisa|bolso|"
        "anillo|collar|flores|pastel|café|playa|montaña|ciudad|niña|niño|familia|boda|cocina|"
        "dormitorio|sala de estar|jardín|patrón|fondo|póster|chaqueta|reloj|lámpara|sofá|"
        "bicicleta|libro|taza|botella|atardecer|bosque|lago|río|pájaro|caballo|bebé|pareja|"
        "oficina|calle|edificio|puente|iglesia|castillo|árbol|pan|vino|cerveza|guitarra|"
        "pintura|mapa|sombrero|bufanda|calcetines|pendientes|pulsera|botas|mochila|juguete|"
        "muñeca|tienda de campaña|barco|tren|jarrón|cojín|manta|alfombra|espejo|vela|cesta|"
        "plato|cuenco",
        "context": "sobre fondo blanco|en el parque|al atardecer|en la playa|en la cocina|"
        "en venta|con flores|en invierno|sobre una mesa de madera|en la ciudad|de noche|"
        "en el jardín|para mujer|para hombre|para niños|en la nieve",
        "suffix": "- Foto de stock|barato|- Comprar online|- Envío gratis|Talla M|nuevo|oferta|"
        "fondo de pantalla HD",
    },
    "it": {
        "prefix": "Foto di|Immagine di|Primo piano di|Ritratto di|Illustrazione di|Il|La|I|Nuovo",
        "adjective": "nero|bianco|rosso|blu|verde|moderno|bella|piccolo|grande|vecchio|nuova|"
        "in legno|giallo|rosa|elegante|classico|lusso|colorato|rustico|fatto a mano|retrò|"
        "fresco|dorato|argento|scuro|luminoso|semplice|divertente|naturale|tradizionale|vintage",
        "noun": "donna|uomo|vestito|gatto|cane|casa|auto|sedia|tavolo|scarpe|camicia|borsa|"
        "anello|collana|fiori|torta|caffè|spiaggia|montagna|città|ragazza|ragazzo|famiglia|"
        "matrimonio|cucina|camera da letto|soggiorno|giardino|sfondo|poster|giacca|orologio|"
        "lampada|divano|bicicletta|libro|tazza|bottiglia|tramonto|foresta|lago|fiume|uccello|"
        "cavallo|bambino|coppia|ufficio|strada|edificio|ponte|chiesa|castello|albero|pane|vino|"
        "birra|chitarra|dipinto|mappa|cappello|sciarpa|calzini|orecchini|braccialetto|stivali|"
        "zaino|giocattolo|bambola|tenda|barca|treno|vaso|cuscino|coperta|tappeto|specchio|"
        "candela|cesto|piatto|ciotola",
        "context": "su sfondo bianco|nel parco|al tramonto|sulla spiaggia|in cucina|in vendita|"
        "con fiori|in inverno|su un tavolo di legno|in città|di notte|in giardino|per donna|"
        "per uomo|per bambini|sulla neve",
        "suffix": "- Foto stock|economico|- Acquista online|- Spedizione gratuita|Taglia M|nuovo|"
        "offerta|sfondo HD",
    },
    "pt": {
        "prefix": "Foto de|Imagem de|Close de|Retrato de|Ilustração de|O|A|Os|Novo",
        "adjective": "preto|branco|vermelho|azul|verde|moderno|linda|pequeno|grande|velho|nova|"
        "de madeira|amarelo|rosa|elegante|clássico|luxo|colorido|rústico|feito à mão|retrô|"
        "fresco|dourado|prateado|escuro|brilhante|simples|engraçado|natural|tradicional|vintage",
        "noun": "mulher|homem|vestido|gato|cachorro|casa|carro|cadeira|mesa|sapatos|camisa|"
        "bolsa|anel|colar|flores|bolo|café|praia|montanha|cidade|menina|menino|família|"
        "casamento|cozinha|quarto|sala de estar|jardim|padrão|fundo|pôster|jaqueta|relógio|"
        "luminária|sofá|bicicleta|livro|caneca|garrafa|pôr do sol|floresta|lago|rio|pássaro|"
        "cavalo|bebê|casal|escritório|rua|prédio|ponte|igreja|castelo|árvore|pão|vinho|"
        "cerveja|violão|pintura|mapa|chapéu|cachecol|meias|brincos|pulseira|botas|mochila|"
        "brinquedo|boneca|barraca|barco|trem|vaso|almofada|cobertor|tapete|espelho|vela|cesta|"
        "prato|tigela",
        "context": "em fundo branco|no parque|ao pôr do sol|na praia|na cozinha|à venda|"
        "com flores|no inverno|sobre uma mesa de madeira|na cidade|à noite|no jardim|"
        "para mulheres|para homens|para crianças|na neve",
        "suffix": "- Foto de stock|barato|- Comprar online|- Frete grátis|Tamanho M|novo|"
        "promoção|papel de parede HD",
    },
    "nl": {
        "prefix": "Foto van|Afbeelding van|Close-up van|Portret van|Illustratie van|De|Het|Nieuw",
        "adjective": "zwart|wit|rood|blauw|groen|modern|mooie|kleine|grote|oude|nieuwe|houten|"
        "geel|roze|elegante|klassieke|luxe|kleurrijke|rustieke|handgemaakte|retro|verse|"
        "gouden|zilveren|donkere|lichte|eenvoudige|grappige|natuurlijke|traditionele|vintage",
        "noun": "vrouw|man|jurk|kat|hond|huis|auto|stoel|tafel|schoenen|overhemd|tas|ring|"
        "ketting|bloemen|taart|koffie|strand|berg|stad|meisje|jongen|familie|bruiloft|keuken|"
        "slaapkamer|woonkamer|tuin|patroon|achtergrond|poster|jas|horloge|lamp|bank|fiets|boek|"
        "mok|fles|zonsondergang|bos|meer|rivier|vogel|paard|baby|stel|kantoor|straat|gebouw|"
        "brug|kerk|kasteel|boom|brood|wijn|bier|gitaar|schilderij|kaart|hoed|sjaal|sokken|"
        "oorbellen|armband|laarzen|rugzak|speelgoed|pop|tent|boot|trein|vaas|kussen|deken|"
        "vloerkleed|spiegel|kaars|mand|bord|kom",
        "context": "op witte achtergrond|in het park|bij zonsondergang|op het strand|"
        "in de keuken|te koop|met bloemen|in de winter|op een houten tafel|in de stad|"
        "'s nachts|in de tuin|voor dames|voor heren|voor kinderen|in de sneeuw",
        "suffix": "- Stockfoto|kopen|- Online bestellen|- Gratis verzending|Maat M|nieuw|"
        "aanbieding|HD achtergrond",
    },
    "pl": {
        "prefix": "Zdjęcie|Obraz|Zbliżenie|Portret|Ilustracja|Nowy",
        "adjective": "czarny|biały|czerwony|niebieski|zielony|nowoczesny|piękna|mały|duży|"
        "stary|nowa|drewniany|żółty|różowy|elegancki|klasyczny|luksusowy|kolorowy|rustykalny|"
        "ręcznie robiony|retro|świeży|złoty|srebrny|ciemny|jasny|prosty|zabawny|naturalny|"
        "tradycyjny|vintage",
        "noun": "kobieta|mężczyzna|sukienka|kot|pies|dom|samochód|krzesło|stół|buty|koszula|"
        "torebka|pierścionek|naszyjnik|kwiaty|ciasto|kawa|plaża|góry|miasto|dziewczyna|"
        "chłopiec|rodzina|ślub|kuchnia|sypialnia|salon|ogród|wzór|tło|plakat|kurtka|zegarek|"
        "lampa|sofa|rower|książka|kubek|butelka|zachód słońca|las|jezioro|rzeka|ptak|koń|"
        "dziecko|para|biuro|ulica|budynek|most|kościół|zamek|drzewo|chleb|wino|piwo|gitara|"
        "obraz olejny|mapa|czapka|szalik|skarpetki|kolczyki|bransoletka|kozaki|plecak|zabawka|"
        "lalka|namiot|łódź|pociąg|wazon|poduszka|koc|dywan|lustro|świeca|kosz|talerz|miska",
        "context": "na białym tle|w parku|o zachodzie słońca|na plaży|w kuchni|na sprzedaż|"
        "z kwiatami|zimą|na drewnianym stole|w mieście|w nocy|w ogrodzie|dla kobiet|"
        "dla mężczyzn|dla dzieci|w śniegu",
        "suffix": "- Zdjęcie stockowe|tanio|- Kup online|- Darmowa dostawa|Rozmiar M|nowy|"
        "promocja|tapeta HD",
    },
    "ru": {
        "prefix": "Фото|Изображение|Крупный план|Портрет|Иллюстрация|Новый",
        "adjective": "черный|белый|красный|синий|зеленый|современный|красивая|маленький|"
        "большой|старый|новая|деревянный|желтый|розовый|элегантный|классический|роскошный|"
        "яркий|деревенский|ручной работы|ретро|свежий|золотой|серебряный|темный|светлый|"
        "простой|смешной|натуральный|традиционный|винтаж",
        "noun": "женщина|мужчина|платье|кошка|собака|дом|машина|стул|стол|обувь|рубашка|сумка|"
        "кольцо|ожерелье|цветы|торт|кофе|пляж|горы|город|девушка|мальчик|семья|свадьба|кухня|"
        "спальня|гостиная|сад|узор|фон|постер|куртка|часы|лампа|диван|велосипед|книга|кружка|"
        "бутылка|закат|лес|озеро|река|птица|лошадь|ребенок|пара|офис|улица|здание|мост|"
        "церковь|замок|дерево|хлеб|вино|пиво|гитара|картина|карта|шапка|шарф|носки|серьги|"
        "браслет|сапоги|рюкзак|игрушка|кукла|палатка|лодка|поезд|ваза|подушка|одеяло|ковер|"
        "зеркало|свеча|корзина|тарелка|миска",
        "context": "на белом фоне|в парке|на закате|на пляже|на кухне|купить|с цветами|зимой|"
        "на деревянном столе|в городе|ночью|в саду|для женщин|для мужчин|для детей|в снегу",
        "suffix": "- стоковое фото|недорого|- Купить онлайн|- Бесплатная доставка|Размер M|"
        "новый|скидка|обои HD",
    },
    "ja": {
        "prefix": "写真|画像|イラスト|新品|送料無料",
        "adjective": "黒|白|赤|青|緑|モダン|かわいい|小さい|大きい|古い|新しい|木製|黄色|ピンク|"
        "エレガント|クラシック|高級|カラフル|ハンドメイド|レトロ|ゴールド|シルバー|シンプル|"
        "ナチュラル|ヴィンテージ",
        "noun": "女性|男性|ドレス|猫|犬|家|車|椅子|テーブル|靴|シャツ|バッグ|指輪|ネックレス|花|"
        "ケーキ|コーヒー|ビーチ|山|街|女の子|男の子|家族|結婚式|キッチン|寝室|リビング|庭|"
        "パターン|背景|ポスター|ジャケット|腕時計|ランプ|ソファ|自転車|本|マグカップ|ボトル|"
        "夕日|森|湖|川|鳥|馬|赤ちゃん|カップル|オフィス|通り|建物|橋|教会|城|木|パン|ワイン|"
        "ビール|ギター|絵画|地図|帽子|マフラー|靴下|ピアス|ブレスレット|ブーツ|リュック|"
        "おもちゃ|人形|テント|ボート|電車|花瓶|クッション|毛布|ラグ|鏡|キャンドル|かご|皿|ボウル",
        "context": "白背景|公園で|夕暮れ|ビーチで|キッチンで|販売|花と|冬|木のテーブル|都会|夜|"
        "庭で|レディース|メンズ|キッズ|雪",
        "suffix": "- ストックフォト|激安|- 通販|送料無料|Mサイズ|新品|セール|壁紙",
    },
    "zh": {
        "prefix": "照片|图片|插图|新款|包邮",
        "adjective": "黑色|白色|红色|蓝色|绿色|现代|可爱|小|大|旧|新|木制|黄色|粉色|优雅|经典|"
        "豪华|彩色|手工|复古|金色|银色|简约|自然|传统",
        "noun": "女人|男人|连衣裙|猫|狗|房子|汽车|椅子|桌子|鞋|衬衫|包|戒指|项链|花|蛋糕|咖啡|"
        "海滩|山|城市|女孩|男孩|家庭|婚礼|厨房|卧室|客厅|花园|图案|背景|海报|夹克|手表|灯|"
        "沙发|自行车|书|杯子|瓶子|日落|森林|湖|河|鸟|马|宝宝|情侣|办公室|街道|建筑|桥|教堂|"
        "城堡|树|面包|葡萄酒|啤酒|吉他|画|地图|帽子|围巾|袜子|耳环|手链|靴子|背包|玩具|娃娃|"
        "帐篷|船|火车|花瓶|抱枕|毯子|地毯|镜子|蜡烛|篮子|盘子|碗",
        "context": "白色背景|在公园|日落时|在海滩|在厨房|出售|带花|冬天|木桌上|在城市|夜晚|"
        "在花园|女款|男款|儿童|雪中",
        "suffix": "- 图库照片|便宜|- 网购|包邮|M码|新品|特价|高清壁纸",
    },
}
_VOCAB_TEXT["other"] = _VOCAB_TEXT["en"]
GROUPS: tuple[str, ...] = tuple(_VOCAB_TEXT)  # en de fr ... zh other

# Probability that a caption has each slot (the noun is always there).
SLOT_PROBABILITY: dict[str, float] = {
    "prefix": 0.35,
    "adjective": 0.70,
    "adjective2": 0.30,
    "noun": 1.0,
    "noun2": 0.25,
    "context": 0.50,
    "brand": 0.30,
    "code": 0.12,
    "tail": 0.40,
    "tail2": 0.15,
    # Product-title captions: a run of five more words (adjective noun tail-word noun context).
    "title": 0.20,
    "suffix": 0.35,
}
TAIL_SLOTS = ("tail", "tail2", "title")  # slots that draw one long-tail word each
JUNK_CAPTION_SHARE = {"null": 0.15, "other": 0.03}  # "IMG_1234.JPG"-style captions

TAIL_WORDS = 50_000  # long-tail vocabulary: names, places, product lines
BRANDS = 3_000
DOMAINS = 50_000
_SYLLABLES = (
    "ka ri to mo na su le vi ro ba de lu mi sa po ne ga ti zo ku ar el on is um "
    "an or en ex al ve ra co ma pi lo fa ge hu ja qu ny tr st br cl pr sh ch th "
    "gr fl pl dr sk sm sn sp sw bl cr"
).split()
_TLDS = (
    ("com", 52),
    ("net", 6),
    ("org", 5),
    ("de", 5),
    ("co.uk", 4),
    ("fr", 3),
    ("ru", 3),
    ("jp", 2),
    ("it", 2),
    ("es", 2),
    ("nl", 2),
    ("pl", 2),
    ("com.br", 2),
    ("cn", 1.5),
    ("com.au", 1.5),
    ("ca", 1.5),
    ("info", 1),
    ("io", 1),
    ("co", 1),
    ("shop", 1),
    ("store", 1),
    ("blog", 0.5),
)
_SUBDOMAINS = ("cdn", "images", "img", "static", "media", "i0", "i1", "assets", "shop", "blog")
_NAME_SUFFIXES = ("shop", "store", "photo", "blog", "news", "design", "art", "home", "style", "")
_PATH_PREFIXES = (
    "images/",
    "media/catalog/product/",
    "uploads/",
    "img/",
    "photos/",
    "product_images/",
    "assets/images/",
    "",
    "content/",
    "thumbs/",
    "gallery/",
    "i/",
    "static/images/",
    "files/",
    "pictures/",
)
_EXTENSIONS = ((".jpg", 78), (".png", 9), (".jpeg", 6), (".webp", 3), (".gif", 2), ("", 2))
_QUERIES = ("?v=", "?w=640&h=", "?itok=", "?width=", "?resize=800%2C")
_COMMON_SIZES = (
    (500, 500, 8),
    (800, 600, 5),
    (1024, 768, 5),
    (1200, 800, 5),
    (640, 480, 5),
    (300, 300, 4),
    (1920, 1080, 4),
    (600, 600, 4),
    (1000, 1000, 4),
    (400, 400, 3),
    (768, 1024, 3),
    (1280, 720, 3),
    (250, 250, 2),
    (1500, 1000, 2),
    (736, 1104, 2),
    (236, 354, 2),
    (1600, 1200, 2),
    (2048, 1365, 1),
)
_LICENSES = (
    ("https://creativecommons.org/licenses/by/4.0/", 25),
    ("https://creativecommons.org/licenses/by-sa/4.0/", 15),
    ("https://creativecommons.org/licenses/by/2.0/", 12),
    ("https://creativecommons.org/licenses/by-nc-sa/2.0/", 10),
    ("https://creativecommons.org/licenses/by-nc/2.0/", 8),
    ("https://creativecommons.org/licenses/by-nd/4.0/", 5),
    ("https://creativecommons.org/licenses/by-nc-nd/2.0/", 8),
    ("https://creativecommons.org/licenses/by-sa/3.0/", 10),
    ("https://creativecommons.org/publicdomain/zero/1.0/", 5),
    ("https://creativecommons.org/publicdomain/mark/1.0/", 2),
)
LICENSE_SHARE = 0.06  # the rest is "?"

SCHEMA = pa.schema(
    [
        ("SAMPLE_ID", pa.int64()),
        ("URL", pa.string()),
        ("TEXT", pa.string()),
        ("HEIGHT", pa.int32()),
        ("WIDTH", pa.int32()),
        ("LICENSE", pa.string()),
        ("NSFW", pa.string()),
        ("similarity", pa.float64()),
        ("LANGUAGE", pa.string()),
        ("punsafe", pa.float32()),
        ("pwatermark", pa.float32()),
        ("aesthetic", pa.float32()),
        ("md5", pa.string()),
    ]
)


# --- vocabularies -------------------------------------------------------------------------------


def zipf_cdf(size: int, exponent: float) -> np.ndarray:
    """Cumulative Zipf weights over ranks 1..size (unnormalised; the last entry is the total)."""
    return np.cumsum(1.0 / np.arange(1, size + 1, dtype=np.float64) ** exponent)


def _draw(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    """``n`` ranks (0-based) drawn with the weights whose cumulative sum is ``cdf``."""
    picks = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    return np.minimum(picks, len(cdf) - 1)


def _weighted_cdf(weights: Sequence[float]) -> np.ndarray:
    return np.cumsum(np.asarray(weights, dtype=np.float64))


def _pseudo_words(rng: random.Random, count: int, min_syllables: int, max_syllables: int) -> list:
    """Unique made-up words (names, places, product lines) built from syllables."""
    seen: set[str] = set()
    words: list[str] = []
    while len(words) < count:
        word = "".join(
            rng.choice(_SYLLABLES) for _ in range(rng.randint(min_syllables, max_syllables))
        )
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


@dataclass(frozen=True)
class Vocabulary:
    """Every string list a chunk draws from, with its sampling weights."""

    slot_words: dict[str, pa.Array]  # slot -> all groups' words, concatenated
    slot_ranges: dict[str, list[tuple[int, np.ndarray]]]  # slot -> per group (offset, cdf)
    tail: pa.Array
    tail_cdf: np.ndarray
    brands: pa.Array
    brand_cdf: np.ndarray
    domains: pa.Array
    domain_cdf: np.ndarray
    domain_has_subdomain: np.ndarray
    path_prefixes: pa.Array
    slugs: pa.Array


@cache
def vocabulary(seed: int = 0) -> Vocabulary:
    """The word and domain lists (deterministic for ``seed``), built once per process."""
    rng = random.Random(seed)
    slot_words: dict[str, pa.Array] = {}
    slot_ranges: dict[str, list[tuple[int, np.ndarray]]] = {}
    for slot in ("prefix", "adjective", "noun", "context", "suffix"):
        words: list[str] = []
        ranges: list[tuple[int, np.ndarray]] = []
        for group in GROUPS:
            entries = _VOCAB_TEXT[group][slot].split("|")
            ranges.append((len(words), zipf_cdf(len(entries), 1.0)))
            words.extend(entries)
        slot_words[slot] = pa.array(words, pa.string())
        slot_ranges[slot] = ranges
    tail = _pseudo_words(rng, TAIL_WORDS, 2, 4)
    brands = [w.capitalize() for w in _pseudo_words(rng, BRANDS, 2, 3)]
    domains, has_sub = _domain_names(rng)
    prefixes = list(_PATH_PREFIXES)
    years = range(2010, 2023)
    prefixes += [f"wp-content/uploads/{y}/{m:02d}/" for y in years for m in range(1, 13)]
    prefixes += [f"s/files/1/{rng.randint(1000, 9999)}/{rng.randint(1000, 9999)}/products/"]
    en_words = _VOCAB_TEXT["en"]["adjective"].split("|") + _VOCAB_TEXT["en"]["noun"].split("|")
    slugs = [
        f"{a}-{b}".replace(" ", "-").replace("'", "")
        for a in _VOCAB_TEXT["en"]["adjective"].split("|")
        for b in _VOCAB_TEXT["en"]["noun"].split("|")
    ] + [w.replace(" ", "-") for w in en_words]
    return Vocabulary(
        slot_words=slot_words,
        slot_ranges=slot_ranges,
        tail=pa.array(tail, pa.string()),
        tail_cdf=zipf_cdf(TAIL_WORDS, 1.05),
        brands=pa.array(brands, pa.string()),
        brand_cdf=zipf_cdf(BRANDS, 1.0),
        domains=pa.array(domains, pa.string()),
        domain_cdf=zipf_cdf(DOMAINS, 0.85),
        domain_has_subdomain=np.asarray(has_sub, dtype=bool),
        path_prefixes=pa.array(prefixes, pa.string()),
        slugs=pa.array(slugs, pa.string()),
    )


def _domain_names(rng: random.Random) -> tuple[list[str], list[bool]]:
    tlds = [t for t, _ in _TLDS]
    tld_weights = [w for _, w in _TLDS]
    seen: set[str] = set()
    names: list[str] = []
    has_sub: list[bool] = []
    while len(names) < DOMAINS:
        stem = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        suffix = rng.choice(_NAME_SUFFIXES) if rng.random() < 0.3 else ""
        name = f"{stem}{'-' if suffix and rng.random() < 0.4 else ''}{suffix}"
        name += "." + rng.choices(tlds, tld_weights)[0]
        sub = rng.random() < 0.15
        if sub:
            name = f"{rng.choice(_SUBDOMAINS)}.{name}"
        if name not in seen:
            seen.add(name)
            names.append(name)
            has_sub.append(sub)
    return names, has_sub


def common_words() -> dict[str, str]:
    """The most frequent adjective of each language's captions (a 'common word' search)."""
    return {group: _VOCAB_TEXT[group]["adjective"].split("|")[0] for group in GROUPS[:-1]}


def rare_words(count: int = 20, rank: int = 1_000, seed: int = 0) -> list[str]:
    """Long-tail words around Zipf ``rank``: each is in ~25 captions per million rows."""
    tail = vocabulary(seed).tail
    return [str(w) for w in tail.slice(rank, count).to_pylist()]


def expected_share(word_rank: int, seed: int = 0) -> float:
    """About the share of captions holding the long-tail word of rank ``word_rank``."""
    cdf = vocabulary(seed).tail_cdf
    p = (cdf[word_rank] - (cdf[word_rank - 1] if word_rank else 0.0)) / cdf[-1]
    return p * sum(SLOT_PROBABILITY[slot] for slot in TAIL_SLOTS)


# --- one chunk ----------------------------------------------------------------------------------


def _language_table() -> tuple[pa.Array, np.ndarray, np.ndarray]:
    codes = [code for code, _ in LANGUAGE_SHARES]
    cdf = _weighted_cdf([share for _, share in LANGUAGE_SHARES])
    group_of = np.array(
        [GROUPS.index(code) if code in GROUPS else GROUPS.index("other") for code in codes],
        dtype=np.int64,
    )
    return pa.array(codes, pa.string()), cdf, group_of


def _take(words: pa.Array, indices: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    """``words[indices]``, null where ``present`` is False (null parts are skipped in joins)."""
    mask = None if present is None else ~present
    return words.take(pa.array(indices, pa.int64(), mask=mask))


def _join(parts: Sequence[pa.Array | str], sep: str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep, null_handling="skip")


def _grouped_slot(
    rng: np.random.Generator, vocab: Vocabulary, slot: str, group: np.ndarray, present: np.ndarray
) -> pa.Array:
    """One caption slot, each row drawing from its own language's words."""
    indices = np.zeros(len(group), dtype=np.int64)
    for g, (offset, cdf) in enumerate(vocab.slot_ranges[slot]):
        rows = np.flatnonzero(group == g)
        if len(rows):
            indices[rows] = offset + _draw(rng, cdf, len(rows))
    return _take(vocab.slot_words[slot], indices, present)


def _numbers(rng: np.random.Generator, n: int, low: int, high: int) -> pa.Array:
    return pc.cast(pa.array(rng.integers(low, high, n), pa.int64()), pa.string())


def _captions(
    rng: np.random.Generator, vocab: Vocabulary, group: np.ndarray, language_null: np.ndarray
) -> pa.Array:
    n = len(group)

    def present(slot: str) -> np.ndarray:
        return rng.random(n) < SLOT_PROBABILITY[slot]

    code_letters = pa.array(["SM-", "X", "GT", "Pro ", "V", "A", "No. ", "Art. ", "Mod. ", "KX"])
    code = _join(
        [_take(code_letters, rng.integers(0, len(code_letters), n)), _numbers(rng, n, 1, 10_000)],
        "",
    )
    code = pc.if_else(pa.array(present("code")), code, pa.scalar(None, pa.string()))
    title = present("title")

    def slot(name: str, mask: np.ndarray) -> pa.Array:
        return _grouped_slot(rng, vocab, name, group, mask)

    def tail(mask: np.ndarray) -> pa.Array:
        return _take(vocab.tail, _draw(rng, vocab.tail_cdf, n), mask)

    parts = [
        slot("prefix", present("prefix")),
        slot("adjective", present("adjective")),
        slot("adjective", present("adjective2")),
        slot("noun", np.ones(n, dtype=bool)),
        slot("noun", present("noun2")),
        slot("context", present("context")),
        _take(vocab.brands, _draw(rng, vocab.brand_cdf, n), present("brand")),
        code,
        tail(present("tail")),
        slot("adjective", title),
        slot("noun", title),
        tail(title),
        slot("noun", title),
        slot("context", title),
        tail(present("tail2")),
        slot("suffix", present("suffix")),
    ]
    captions = _join(parts, " ")
    other = GROUPS.index("other")
    junk_share = np.where(
        language_null, JUNK_CAPTION_SHARE["null"], np.where(group == other, 0.03, 0.005)
    )
    junk = rng.random(n) < junk_share
    if junk.any():
        junk_text = _join(
            [
                pa.array(np.where(rng.random(n) < 0.5, "IMG_", "DSC")),
                _numbers(rng, n, 1000, 10_000),
                pa.array(np.where(rng.random(n) < 0.7, ".JPG", "")),
            ],
            "",
        )
        captions = pc.if_else(pa.array(junk), junk_text, captions)
    return captions


def _urls(rng: np.random.Generator, vocab: Vocabulary, n: int, sample_ids: np.ndarray) -> pa.Array:
    domain_index = _draw(rng, vocab.domain_cdf, n)
    www = (rng.random(n) < 0.35) & ~vocab.domain_has_subdomain[domain_index]
    scheme = pa.array(np.where(rng.random(n) < 0.85, "https://", "http://"))
    ext_cdf = _weighted_cdf([w for _, w in _EXTENSIONS])
    ext = pa.array([e for e, _ in _EXTENSIONS]).take(pa.array(_draw(rng, ext_cdf, n)))
    query_kind = rng.integers(0, len(_QUERIES), n)
    has_query = rng.random(n) < 0.1
    query = _join(
        [
            _take(pa.array(_QUERIES), query_kind, has_query),
            _numbers(rng, n, 1, 100_000),
        ],
        "",
    )
    query = pc.if_else(pa.array(has_query), query, pa.scalar(None, pa.string()))
    # Ids in paths: hex for some sites, decimal for others.
    hex_ids = _hex_strings(sample_ids * 2654435761 % (1 << 40), 10)
    dec_ids = pc.cast(pa.array(sample_ids * 7 + 12345, pa.int64()), pa.string())
    ids = pc.if_else(pa.array(rng.random(n) < 0.5), hex_ids, dec_ids)
    slug_present = rng.random(n) < 0.6
    slug = _join([_take(vocab.slugs, rng.integers(0, len(vocab.slugs), n), slug_present), ids], "-")
    return _join(
        [
            scheme,
            _take(pa.array(["www."]), np.zeros(n, dtype=np.int64), www),
            vocab.domains.take(pa.array(domain_index)),
            "/",
            vocab.path_prefixes.take(
                pa.array(_draw(rng, zipf_cdf(len(vocab.path_prefixes), 0.7), n))
            ),
            slug,
            ext,
            query,
        ],
        "",
    )


def _fixed_width_strings(codes: np.ndarray) -> pa.Array:
    """A string array from an (n, width) uint8 array of ASCII codes, as one buffer."""
    n, width = codes.shape
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    data = np.ascontiguousarray(codes).tobytes()
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex_strings(values: np.ndarray, width: int) -> pa.Array:
    """Non-negative integers as zero-padded lower-case hex of ``width`` digits."""
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64) * 4
    nibbles = (values.astype(np.int64)[:, None] >> shifts) & 0x0F
    return _fixed_width_strings(_HEX_DIGITS[nibbles])


def _md5_hex(rng: np.random.Generator, n: int) -> pa.Array:
    """32-character lower-case hex strings (random, like the MD5 of distinct images)."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX_DIGITS[raw >> 4]
    hexed[:, 1::2] = _HEX_DIGITS[raw & 0x0F]
    return _fixed_width_strings(hexed)


def _sizes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    common = rng.random(n) < 0.55
    size_cdf = _weighted_cdf([w for _, _, w in _COMMON_SIZES])
    pick = _draw(rng, size_cdf, n)
    table = np.array([(w, h) for w, h, _ in _COMMON_SIZES], dtype=np.int64)
    # Others: long side log-normal around 700 px, aspect ratio around 4:3 either way.
    long_side = np.clip(rng.lognormal(np.log(700), 0.55, n), 64, 8000)
    ratio = np.clip(rng.lognormal(np.log(1.33), 0.25, n), 1.0, 4.0)
    landscape = rng.random(n) < 0.6
    short_side = long_side / ratio
    width = np.where(landscape, long_side, short_side)
    height = np.where(landscape, short_side, long_side)
    width = np.where(common, table[pick, 0], np.round(width)).astype(np.int32)
    height = np.where(common, table[pick, 1], np.round(height)).astype(np.int32)
    return width, height


def laion_chunk(seed: int, chunk_index: int, n: int, first_sample_id: int) -> pa.Table:
    """``n`` LAION-shaped rows; deterministic for ``(seed, chunk_index, n)``."""
    vocab = vocabulary(seed)
    rng = np.random.default_rng([seed, chunk_index])
    sample_ids = first_sample_id + np.cumsum(rng.integers(1, 4, n))

    languages, language_cdf, group_of = _language_table()
    language_index = _draw(rng, language_cdf, n)
    language = languages.take(pa.array(language_index))
    language_null = np.asarray(pc.is_null(language).to_numpy(zero_copy_only=False))
    group = group_of[language_index]

    similarity = np.where(
        group == GROUPS.index("en"),
        0.28 + rng.gamma(2.2, 0.018, n),
        np.where(language_null, 0.28, 0.26) + rng.gamma(2.0, 0.02, n),
    )
    similarity = np.minimum(similarity, 0.5 + rng.random(n) * 0.05)
    # punsafe: most images are clearly safe, a small share is clearly not.
    unsafe = rng.random(n) < 0.035
    punsafe = np.where(unsafe, rng.beta(4.0, 1.6, n), rng.beta(0.45, 11.0, n)).astype(np.float32)
    nsfw_noise = punsafe + rng.normal(0.0, 0.08, n)
    nsfw = pa.array(["UNLIKELY", "UNSURE", "NSFW"]).take(
        pa.array(np.where(nsfw_noise > 0.6, 2, np.where(nsfw_noise > 0.3, 1, 0)))
    )
    watermarked = rng.random(n) < 0.12
    pwatermark = np.where(watermarked, rng.beta(5.0, 1.5, n), rng.beta(0.7, 5.0, n))
    aesthetic = np.clip(rng.normal(5.2, 0.9, n), 1.0, 10.0)
    width, height = _sizes(rng, n)
    license_cdf = _weighted_cdf([w for _, w in _LICENSES])
    licensed = rng.random(n) < LICENSE_SHARE
    licence = pc.if_else(
        pa.array(licensed),
        pa.array([u for u, _ in _LICENSES]).take(pa.array(_draw(rng, license_cdf, n))),
        "?",
    )
    return pa.table(
        {
            "SAMPLE_ID": pa.array(sample_ids, pa.int64()),
            "URL": _urls(rng, vocab, n, sample_ids),
            "TEXT": _captions(rng, vocab, group, language_null),
            "HEIGHT": pa.array(height, pa.int32()),
            "WIDTH": pa.array(width, pa.int32()),
            "LICENSE": licence,
            "NSFW": nsfw,
            "similarity": pa.array(similarity, pa.float64()),
            "LANGUAGE": language,
            "punsafe": pa.array(punsafe, pa.float32()),
            "pwatermark": pa.array(pwatermark.astype(np.float32), pa.float32()),
            "aesthetic": pa.array(aesthetic.astype(np.float32), pa.float32()),
            "md5": _md5_hex(rng, n),
        },
        schema=SCHEMA,
    )


# --- files --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    folder: Path
    files: list[Path]
    rows: int
    seconds: float
    reused: bool = False


def generate_laion_parquet(
    folder: Path,
    rows: int,
    *,
    seed: int = 0,
    rows_per_file: int = 1_000_000,
    chunk_rows: int = 250_000,
    row_group_rows: int = 125_000,
    keep: bool = False,
) -> Generated:
    """Write ``rows`` LAION-shaped rows as ``part-NNNNN.parquet`` files in ``folder``.

    Memory stays bounded by ``chunk_rows``. With ``keep``, files already generated with the
    same parameters (recorded in ``generated.json``) are reused instead of written again.
    """
    if rows < 1:
        raise ValueError("rows must be at least 1")
    params = {
        "version": GENERATOR_VERSION,
        "rows": rows,
        "seed": seed,
        "rows_per_file": rows_per_file,
        "chunk_rows": chunk_rows,
    }
    meta_path = folder / META_FILE
    if keep and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        files = [folder / name for name in meta.get("files", [])]
        if meta.get("params") == params and files and all(f.is_file() for f in files):
            return Generated(folder, files, rows, float(meta.get("seconds", 0.0)), reused=True)
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("part-*.parquet"):
        old.unlink()
    meta_path.unlink(missing_ok=True)
    files: list[Path] = []
    written = 0
    chunk_index = 0
    next_id = 100_000_000
    while written < rows:
        path = folder / f"part-{len(files):05d}.parquet"
        in_file = min(rows_per_file, rows - written)
        with pq.ParquetWriter(path, SCHEMA, compression="snappy") as writer:
            done = 0
            while done < in_file:
                n = min(chunk_rows, in_file - done)
                table = laion_chunk(seed, chunk_index, n, next_id)
                next_id = int(table.column("SAMPLE_ID")[-1].as_py())
                writer.write_table(table, row_group_size=row_group_rows)
                done += n
                chunk_index += 1
        files.append(path)
        written += in_file
    seconds = time.perf_counter() - started
    meta_path.write_text(
        json.dumps({"params": params, "files": [f.name for f in files], "seconds": seconds})
    )
    return Generated(folder, files, rows, seconds)
