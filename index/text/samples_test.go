package text

// samples holds, per analyzer, a sentence in its language ("an aircraft
// flies over the mountains"), a content word of it to search for, and a
// stop word of the language that analysis drops ("" where none is asserted).
var samples = map[string]struct{ text, query, stop string }{
	"standard": {"The aircraft flies over the mountains", "mountains", "the"},
	"en":       {"The aircraft's wings fly over the mountains", "mountain", "the"},
	"ar":       {"تحلق الطائرة فوق الجبال العالية", "الجبال", "في"},
	"bg":       {"Самолетът лети над високите планини", "планини", "и"},
	"ca":       {"L'avió vola sobre les muntanyes altes", "muntanyes", "i"},
	"cjk":      {"飞机飞过高高的山脉", "山脉", ""},
	"ckb":      {"فڕۆکەکە بەسەر چیا بەرزەکاندا دەفڕێت", "چیا", ""},
	"cs":       {"Letadlo letí nad vysokými horami", "horami", "a"},
	"da":       {"Flyet flyver over de høje bjerge", "bjerge", "og"},
	"de":       {"Das Flugzeug fliegt über die hohen Berge", "Flugzeug", "und"},
	"el":       {"Το αεροπλάνο πετάει πάνω από τα ψηλά βουνά", "αεροπλάνο", "και"},
	"es":       {"El avión vuela sobre las altas montañas", "montañas", "y"},
	"eu":       {"Hegazkina mendi altuen gainetik hegan doa", "mendi", "eta"},
	"fa":       {"هواپیما بر فراز کوه های بلند پرواز می کند", "هواپیما", "و"},
	"fi":       {"Lentokone lentää korkeiden vuorten yli", "vuorten", "ja"},
	"fr":       {"L'avion vole au-dessus des hautes montagnes", "montagnes", "et"},
	"ga":       {"Eitlíonn an t-eitleán thar na sléibhte arda", "sléibhte", "agus"},
	"gl":       {"O avión voa sobre as altas montañas", "montañas", "e"},
	"hi":       {"विमान ऊँचे पहाड़ों के ऊपर उड़ता है", "पहाड़ों", "और"},
	"hr":       {"Zrakoplov leti iznad visokih planina", "planina", ""},
	"hu":       {"A repülőgép a magas hegyek felett repül", "hegyek", "és"},
	"hy":       {"Ինքնաթիռը թռչում է բարձր լեռների վրայով", "լեռների", "և"},
	"id":       {"Pesawat terbang di atas pegunungan yang tinggi", "pegunungan", "dan"},
	"it":       {"L'aereo vola sopra le alte montagne", "montagne", "e"},
	"nl":       {"Het vliegtuig vliegt over de hoge bergen", "vliegtuig", "en"},
	"no":       {"Flyet flyr over de høye fjellene", "fjellene", "og"},
	"pl":       {"Samolot leci nad wysokimi górami", "górami", "i"},
	"pt":       {"O avião voa sobre as altas montanhas", "montanhas", "e"},
	"ro":       {"Avionul zboară deasupra munților înalți", "munților", ""},
	"ru":       {"Самолёт летит над высокими горами", "горами", "и"},
	"sv":       {"Flygplanet flyger över de höga bergen", "bergen", "och"},
	"tr":       {"Uçak yüksek dağların üzerinden uçar", "dağların", "ve"},
}
