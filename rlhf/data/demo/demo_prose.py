"""Ordinary prose written for this project: short paragraphs on everyday subjects, in the plain
register a small instruct model was pretrained on. make_demo_data.py splits them into
general_train.jsonl (the PPO-ptx pretraining loss) and general_heldout.jsonl (held-out perplexity,
the "alignment tax"). Paragraphs are separated by blank lines; line breaks inside one are spaces.
"""

from __future__ import annotations

_TEXT = """
The market opens before the sun is fully up. Farmers back their vans into narrow spaces, unfold tables and stack crates of apples, leeks and potatoes still dusted with soil. By seven the first customers arrive with cloth bags and a clear idea of what they want. By nine the crowd is thicker and slower, full of people who came mostly to look, to taste a slice of cheese, and to talk with neighbours they see only on Saturdays.

Rain had fallen for three days without a break, and the river below the town had risen until it covered the lower footpath. Children gathered on the bridge to watch branches sweep past. Their parents watched the water line on the old stone pillars, where marks and dates recorded the great floods of the past. Nobody said much. Everyone knew the river would fall again, but nobody knew quite when.

A good notebook changes the way you think. When an idea lives only in your head it stays vague and comfortable, and it is easy to believe it is finished. Writing it down forces you to choose words, and choosing words forces you to decide what you actually mean. Many people find that half of their best ideas fall apart on paper, and that the half that survives is much stronger for the test.

The lighthouse keeper kept a log of every ship that passed. He noted the time, the direction and the weather, and sometimes a line about the sea itself: calm as glass, grey and restless, white with spray. After forty years the logs filled a whole shelf. His daughter still reads them on winter evenings, not for the ships, but for the small remarks in the margins that sound exactly like her father.

Bread is one of the oldest foods people make, and it needs very little: flour, water, salt and time. Yeast, whether bought in a packet or kept alive in a jar of sourdough starter, does most of the work. It feeds on the sugars in the flour and releases gas, which the stretchy gluten traps in countless small bubbles. Baking sets that structure, and the result is a loaf that is light inside and crisp outside.

Walking through a forest in autumn is a lesson in colour. The maples turn red and orange first, then the birches fade to yellow, while the pines stay dark green all year. Underfoot the fallen leaves crackle when they are dry and turn soft and quiet after rain. The air smells of damp earth and wood smoke from distant chimneys. Even a short walk feels like stepping into another season entirely.

Most people underestimate how much they forget. A week after a lecture, students typically remember only a fraction of what they heard, unless they reviewed it along the way. Spacing practice over several days works far better than cramming in one long session. Testing yourself, even when you get the answers wrong, strengthens memory more than reading the same notes again and again.

The old clock in the station had stopped at twenty past four, and nobody could remember when. Travellers glanced at it out of habit, frowned, and checked their phones instead. The station master said it would be fixed next month, as he had said every month for two years. Some of the regular passengers had grown fond of it. It was, they joked, the only thing in the building that was never late.

Honeybees communicate through movement. A forager that has found a good patch of flowers returns to the hive and performs a waggle dance on the comb. The angle of the dance tells the other bees the direction of the food relative to the sun, and the length of the waggle tells them how far away it is. Within minutes, dozens of bees can set out toward a source that only one of them has seen.

Learning to cook for yourself is mostly about confidence. Recipes can look complicated, but most of them rely on a small set of techniques: chopping, frying, boiling, roasting and seasoning. Once those become familiar, new dishes feel less like tests and more like variations. Mistakes are part of the process. A burnt sauce teaches more about heat than any cookbook could.

The village had one shop, one pub and one bus a day. Young people tended to leave for the city as soon as they finished school, and many of the cottages had become holiday homes that stood empty most of the year. Then a group of residents bought the closing shop together and turned it into a cooperative with a small café. Within a year it had become the place where everyone met, and the village felt alive again.

Mountains make their own weather. As moist air is pushed up a slope it cools, and the water vapour condenses into clouds and rain. The side of a range that faces the prevailing wind is often green and wet, while the far side lies in a rain shadow and can be almost desert. Climbers learn to watch the sky closely, because a clear morning can turn into a storm by early afternoon.

There is a particular pleasure in fixing something yourself. A wobbly chair, a dripping tap or a bicycle chain that keeps slipping can seem like a nuisance, but each one is also a small puzzle. With patience, the right tool and perhaps a video or two, most of these jobs are within reach. The repaired object is rarely perfect, yet it often feels more like your own than anything bought new.

Letters were once the main way people stayed in touch across distance. A letter could take weeks to arrive, so writers put care into every page, describing their days in detail and answering questions from the previous letter. Historians value these collections because they reveal ordinary life in a way official records never do: the price of flour, a child's illness, an argument with a neighbour, a hope for better weather.

The library was quiet except for the soft hum of the heating and the occasional turning of a page. An elderly man read the newspaper at the long table by the window, as he did every morning. Two students shared a desk covered in textbooks and highlighters. In the children's corner a librarian sat on a low stool, reading a story aloud to a small circle of toddlers who listened with their mouths open.

Tides are caused mainly by the pull of the Moon. The side of the Earth facing the Moon feels a slightly stronger pull than the centre of the planet, and the far side feels a slightly weaker one, so the oceans bulge on both sides. As the Earth turns, most coasts pass through two high tides and two low tides each day. When the Sun and Moon line up, their pulls combine and the tides are especially large.

Gardening teaches patience in a way few other hobbies do. You plant a seed and then wait, often for weeks, before there is anything to see. You learn that watering too much can be as harmful as watering too little, and that the weather has the final say. But there is deep satisfaction in eating a tomato you grew yourself, warm from the sun, with a taste no supermarket can match.

The first day at a new job is almost always tiring. There are names to learn, systems to log into, and unwritten rules that everyone else seems to know already. Most people spend that day feeling slightly lost. It helps to remember that nobody expects a newcomer to understand everything at once. Asking questions early is far better than guessing, and colleagues are usually glad to explain.

On the coast the wind never really stops. It bends the few trees into strange shapes, all leaning away from the sea, and it carries salt far inland, where it dusts windows and rusts garden gates. Locals hardly notice it. Visitors arrive in light jackets, surprised by how cold a sunny day can feel, and leave with windburnt cheeks and a new respect for the people who live there all year.

A map is a set of choices. No map can show everything, so its makers decide what matters: roads or rivers, borders or mountains, bus stops or footpaths. A map for hikers looks nothing like a map for sailors, even when both cover the same ground. Reading a map well means understanding what it was made for, and what it has quietly left out.

The children built a den at the bottom of the garden from old planks, a torn tarpaulin and a great deal of string. It leaked when it rained and leaned badly to one side, but they defended it fiercely against younger siblings and curious dogs. All summer they ate their lunches there and made elaborate plans that they never carried out. Years later, each of them would describe it as the best house they ever lived in.

Sleep is not simply a pause in activity. While we sleep the brain sorts through the events of the day, strengthening some memories and letting others fade. The body repairs tissue and releases hormones that regulate growth and appetite. People who sleep badly for long periods are more likely to fall ill, to make mistakes and to feel low. A regular bedtime is one of the simplest things anyone can do for their health.

Cities grew up along rivers for good reasons. A river provided drinking water, fish, a way to carry goods and a natural defence. Mills could use its current to grind grain. Over the centuries many of those rivers were hidden under streets or lined with concrete, and people forgot they were there. Today some cities are uncovering them again, opening up paths and parks along the water where there were once car parks.

The bakery on the corner has not changed its sign in fifty years. Inside, the glass counter holds the same rows of rolls, pastries and heavy rye loaves that the founder sold when the street was still cobbled. His granddaughter runs it now. She added a coffee machine and a card reader, but she still starts work at four in the morning and still knows most of her customers by name.

Good conversation depends more on listening than on talking. People who are remembered as charming are often those who asked thoughtful questions and paid attention to the answers. It is tempting, while someone else is speaking, to plan what you will say next. Resisting that urge, and staying curious about the other person, makes conversations deeper and more enjoyable for everyone involved.

Owls have several features that make them remarkable night hunters. Their large eyes gather what little light there is, and their faces are shaped like dishes that funnel sound toward their ears. In many species one ear sits higher than the other, which helps them pinpoint the exact position of a mouse rustling under leaves or snow. Soft edges on their feathers let them fly almost silently.

Every winter the lake froze thick enough to walk on, and for a few weeks it became the centre of town life. People skated in circles after work, old men drilled holes and sat fishing on folding stools, and children pulled each other on sledges across the wide white surface. When the thaw came, everyone watched the ice darken and crack, and the lake returned to being something you looked at rather than stood on.

Money is a shared agreement. A coin or a note has little value as metal or paper; it is useful because everyone accepts that it can be exchanged for goods and services. That trust is built by governments, banks and long habit. When the trust weakens, as it has during periods of very high inflation, people quickly turn to other things they believe will hold value, such as foreign currency, gold or even cigarettes.

The path to the top of the hill is steep for the first half mile and then levels out across open grass. Sheep graze there all year, unbothered by walkers, and skylarks rise singing from the turf in spring. From the summit you can see three counties on a clear day, the grey line of the sea to the west and the towers of the cathedral city far to the east.

Handwriting is slowly disappearing from daily life. Many adults now write by hand only to sign their names or to scribble a quick note on the fridge. Some teachers worry about this, because studies suggest that taking notes by hand helps students understand and remember more than typing does. Writing slowly forces you to summarise rather than copy, and that summarising is a form of thinking.

The orchestra tuned up in a cloud of overlapping notes, each player testing a few bars of a difficult passage. Then the lights dimmed, the conductor walked on to applause, and the hall fell silent. For a second nothing happened. Then the cellos began, quietly, and the audience leaned forward almost as one, as if afraid to miss the first sound of something they had waited all week to hear.

Volcanoes are openings in the Earth's crust where molten rock, gas and ash escape from below. Some erupt explosively, throwing ash high into the atmosphere, while others release slow rivers of lava that creep across the land. Although eruptions can be deadly, volcanic soil is often extremely fertile, which is why farmers have lived on the slopes of active volcanoes for thousands of years despite the risk.

The phone rang at three in the morning, which is never good news. She answered it already standing, one hand searching for the light switch. It was her brother, calling from the hospital to say that their father had fallen but was stable and asking for tea. She laughed with relief, told him she would be there by breakfast, and sat on the edge of the bed for a long time before she began to pack.

Bicycles are one of the most efficient machines ever built. A person on a bicycle uses less energy to travel a mile than almost any animal or vehicle. The basic design has changed little in more than a century: two wheels of equal size, a chain driving the rear wheel and a frame shaped like a diamond. Yet engineers still find ways to make bikes lighter, stronger and more comfortable.

Every family has its own language. There are nicknames that outsiders would not understand, jokes that refer back to a holiday decades ago and phrases borrowed from a toddler who could not yet speak properly. These words are a kind of private history. When families gather after a long time apart, they often slip back into this language within minutes, and the years in between seem to vanish.

A good teacher makes difficult things feel possible. They break large problems into small steps, notice when a student is confused before the student says anything and know when to give an answer and when to wait. Many adults can name one teacher who changed the direction of their life, often not through any single lesson but through a steady belief that they could do better than they thought.

The harbour was busiest at dawn, when the fishing boats came in. Gulls followed each one, screaming and diving for scraps, while crews unloaded boxes of fish packed in ice. Buyers from the town's restaurants walked along the quay, lifting lids and bargaining over prices. By eight it was all over. The boats were tied up and hosed down, and the fishermen had gone home to sleep.

Coffee was first drunk in Ethiopia and Yemen, and by the sixteenth century coffee houses had spread across the Middle East. They were places to talk, play games, hear music and exchange news, and some rulers feared them as centres of gossip and dissent. When coffee reached Europe, the same pattern repeated. In London, several famous businesses, including an insurance market, began as conversations in coffee houses.

Snow changes the sound of a town. Traffic slows and softens, footsteps are muffled and voices seem to travel less far. On the morning after a heavy fall, people step outside and instinctively speak more quietly. Children, of course, do the opposite. Within an hour every park is full of shouting, sledges and lopsided snowmen with carrot noses and pebble eyes.

Building a habit is easier when the new behaviour is small and tied to something you already do. Someone who wants to read more might read one page after brushing their teeth each night. Someone who wants to exercise might do ten squats while the kettle boils. Small actions repeated every day become automatic, and once a habit is automatic it can slowly be made larger.

The museum's oldest object is a simple stone hand axe, shaped by someone who lived hundreds of thousands of years ago. It sits in a glass case near the entrance, and most visitors walk past it on their way to the dinosaurs. Those who stop and look closely notice how carefully it was made, how well it fits a human hand, and how much skill was needed to strike each flake away.

Rivers are always changing course. On flat land they wind back and forth in loops called meanders, eating away at the outer bank of each bend and depositing sand and mud on the inner bank. Over time a loop can become so tight that the river cuts straight across its neck during a flood, leaving behind a curved lake. Maps of the same river drawn a century apart can look surprisingly different.

Moving house is said to be one of the most stressful events in life, and anyone who has done it will understand why. Everything you own must be sorted, wrapped and carried, and every decision seems to lead to three more. Yet there is also something hopeful about it. Unpacking in a new place, you get to choose where each thing belongs, and for a while the whole house feels full of possibility.

Among the most surprising facts about octopuses is that they have three hearts and blue blood. Two hearts pump blood through the gills and the third pumps it around the rest of the body. Their blood uses a copper-based molecule to carry oxygen, which works well in cold water with little oxygen. They are also masters of disguise, able to change both the colour and the texture of their skin in a fraction of a second.

The train left the city late in the evening and ran south through the night. In the sleeping car, passengers lay in narrow bunks listening to the rhythm of the wheels and the occasional clang of a crossing. Some slept deeply; others watched the lights of small towns flicker past the window. At dawn the landscape had changed completely, and the first thing people saw on lifting the blind was a field of sunflowers.

Most of what we call taste is actually smell. The tongue can detect only a handful of basic tastes, such as sweet, salty, sour, bitter and savoury. The rich variety of flavours we experience comes from aromas that travel from the mouth up to the nose. That is why food seems bland when you have a cold, and why holding your nose makes it hard to tell an apple from a raw potato.

The football club had existed for over a hundred years without ever winning a major trophy. Its supporters were famous for their loyalty and their gallows humour, singing loudly through defeat after defeat. When the team finally reached a cup final, the whole town seemed to travel to the stadium. They lost narrowly, and the fans sang anyway, louder than ever, until long after the winners had left the field.

Patience is often described as waiting calmly, but it is closer to a skill than a mood. Patient people are not necessarily calm inside; they have simply learned to act well while uncomfortable. They let a difficult conversation take the time it needs, they give a struggling learner another chance and they resist the urge to check on a growing plant every hour. Like most skills, it improves with practice.

Glass is made by melting sand, soda and lime at very high temperatures. When the mixture cools quickly it does not form crystals as most solids do, but stays in a disordered state that lets light pass straight through. Glassmakers have known how to shape this material for thousands of years, blowing it into bottles and pressing it into sheets, and modern glass does everything from protecting phone screens to carrying internet signals.

The town's annual fair arrived every August on the same field by the river. For a week the air smelled of frying onions and candy floss, and the noise of generators and music carried across the water late into the night. Teenagers spent their savings on rides that spun them upside down, and younger children tried endlessly to win goldfish at the hook-a-duck stall. Then one morning it was gone, leaving only flattened grass.

Being bored is not always a bad thing. Psychologists have found that people who spend a little time with nothing to do often come up with more creative ideas afterwards. Boredom pushes the mind to wander, and wandering minds make unexpected connections. Filling every spare moment with a screen may remove the discomfort of boredom, but it can also remove the space in which new thoughts appear.

Wolves live and hunt in packs, usually made up of a breeding pair and their offspring from several years. Each member has a role, and the pack works together to track and bring down prey much larger than any single wolf could manage. Wolves also communicate over long distances by howling, which helps scattered members find one another and warns rival packs to keep away from their territory.

Grandmother kept her recipes in a battered tin box, written on cards in faded blue ink. Many of them were incomplete. A card might list the ingredients but say only bake until done, or give quantities in cups without saying what size of cup. After she died the family spent a whole winter trying to recreate her ginger cake. They never quite managed it, but the attempts became a tradition of their own.

Electric light changed human life more than almost any other invention. Before it, work and social life were limited by daylight, candles and oil lamps, all of which were expensive, dim or dangerous. Within a few decades of the first practical bulbs, city streets were lit all night, factories could run around the clock and ordinary families could read comfortably after dark. Our sleep patterns have never been the same since.

The path along the cliff top is narrow, and in places the edge is only a step away. Walkers are advised to keep to the inland side and to avoid the route altogether in strong winds. For those who go, the reward is a view of stacks and arches carved by the sea, seabirds nesting on every ledge and, if they are lucky, seals hauled out on the rocks far below.

Saving money rarely feels exciting, but its effects add up quietly. A small amount set aside each month can grow into a useful cushion within a year or two. That cushion turns emergencies into inconveniences: a broken boiler or a sudden car repair no longer means borrowing at a high rate. Many people find that simply knowing the money is there makes them feel calmer and more in control.

The violin is made from about seventy separate pieces of wood, glued and carved with great precision. The top is usually spruce, chosen for its strength and lightness, and the back and sides are often maple. Inside, a small wooden post wedged between top and back carries vibrations from the strings through the whole body of the instrument. Tiny changes to its position can noticeably change the sound.

Not every journey needs a destination. Some of the best walks start with no plan at all: you leave the house, turn left or right on a whim and see where the streets take you. In a familiar neighbourhood this can reveal alleys, courtyards and shops you never noticed. In a new city it can lead to places that no guidebook mentions, and to the feeling of having found them yourself.

Insects make up the majority of known animal species on Earth. They pollinate crops, break down dead plants and animals and serve as food for birds, fish and mammals. Many scientists are worried that insect numbers have fallen sharply in recent decades, because of habitat loss, pesticides and changing weather. Because so much depends on them, their decline could affect entire ecosystems, including the ones people rely on for food.

The apartment was small, but its window looked out over the rooftops toward the hills, and that view made up for a great deal. In the morning the light came in low and golden, and in the evening the sky turned orange behind the chimneys. She put her desk right under the window, even though it meant the bookcase had to go in the hallway, and she never regretted the decision.

Apprenticeship is one of the oldest ways of learning a trade. A young person works alongside a skilled master, starting with simple tasks and slowly taking on more responsibility. Much of what is learned cannot easily be written down: how a joint should feel when it fits, the sound a machine makes just before it fails, the right amount of pressure on a chisel. This kind of knowledge passes from hands to hands.

Penguins cannot fly, but they are superb swimmers. Their wings have evolved into stiff flippers that push them through the water at speed, and their bodies are shaped like torpedoes to reduce drag. Some species dive hundreds of metres deep in search of fish and squid. On land they waddle awkwardly, but in the sea they move with a grace and power that surprises anyone who has only seen them on ice.

The rehearsal went badly. The lead actor forgot his lines twice, a door in the set refused to close and the lighting cues were all a beat late. The director sat in the dark at the back of the hall with her head in her hands. Everyone told her that a bad dress rehearsal means a good first night. It is an old theatre saying, and on this occasion, to her great relief, it turned out to be true.

Water is unusual in many ways. It is one of the few substances that expands when it freezes, which is why ice floats and pipes burst in winter. It can absorb a great deal of heat without changing temperature much, which helps keep coastal climates mild. It dissolves more substances than almost any other liquid. These odd properties are a large part of why life on Earth is possible at all.

Every spring the swallows return to the barn. They arrive within a few days of the same date each year, having flown thousands of miles from Africa. The farmer's children keep a list on the inside of the barn door, a column of dates written in pencil going back more than twenty years. Seeing the first swallow swoop through the open door is, for the whole family, the true beginning of summer.

Many of the world's oldest games are still played today. Board games using pieces moved along tracks or captured on grids have been found in ancient tombs, and versions of games like chess and backgammon have been played for well over a thousand years. Their rules have changed slowly over time, but the basic pleasure remains: two people, a board and a contest of skill and luck.

The kitchen was the warmest room in the house, and so it became the room where everything happened. Homework was done at the big table, arguments were settled over cups of tea and visitors were never shown into the front room, however grand the occasion. Years later, the children remembered almost nothing about the rest of the house. They remembered the kitchen down to the chip in the third tile above the sink.

Clouds come in many shapes, and each one says something about the weather. High, wispy clouds called cirrus are made of ice crystals and often signal a change on the way. Puffy cumulus clouds on a summer afternoon usually mean fair weather, unless they grow tall and dark into thunderclouds. Low, flat sheets of stratus bring grey skies and drizzle. With a little practice, anyone can read the sky.

A budget is not a punishment but a plan. Many people avoid making one because they fear it will show them something unpleasant, or because they imagine it means giving up everything they enjoy. In practice, a good budget simply makes choices visible. It shows where money is going, so you can decide deliberately whether that is where you want it to go, rather than finding out at the end of the month.

The first time she played in public, her hands shook so badly that she missed the opening notes. She stopped, took a breath and started again, and this time the music carried her along. Afterwards people came up to thank her, and nobody mentioned the false start. She learned something that night that she would tell her own students for decades: the audience wants you to succeed, and they forgive far more than you think.

The Sahara is the largest hot desert in the world, but it has not always been dry. Rock paintings found deep in the desert show giraffes, cattle and people swimming, scenes from a time several thousand years ago when the region was green and dotted with lakes. Small changes in the Earth's orbit shifted the monsoon rains, and over centuries the grasslands gave way to sand.

Running is one of the simplest forms of exercise. It needs no special equipment beyond a decent pair of shoes and can be done almost anywhere. Beginners often make the mistake of running too fast, becoming breathless and discouraged within minutes. Slowing down to a pace at which you could hold a conversation makes it possible to run for longer, and it is at that gentle pace that fitness slowly builds.

There was a small bookshop at the end of the arcade that seemed to have no opening hours. Some days it was open at eight in the morning, and on others it stayed shut until noon. The owner, a tall man with half-moon glasses, said he opened when he had finished his own reading. Regular customers learned to check the window for the handwritten sign, and they did not seem to mind.

Compound interest has been called one of the most powerful forces in finance. When interest is added to savings, the next round of interest is calculated on the larger total, so the balance grows faster each year. The same force works in reverse for debts, which can grow alarmingly if left unpaid. Understanding this simple idea early in life can make a large difference to anyone's finances decades later.

Horses were domesticated on the grasslands of Central Asia several thousand years ago, and they transformed human history. They allowed people to travel and trade over great distances, to farm larger fields and to wage war in entirely new ways. For most of recorded history, the speed of a horse was the fastest speed at which news could travel over land. Only the railway and the telegraph finally broke that limit.

The storm arrived in the middle of the afternoon. The sky to the west turned the colour of a bruise, the wind dropped to nothing and then came back hard and cold. Shop owners hurried to pull in their awnings. When the rain began it came down so heavily that the street became a shallow river within minutes, and people sheltering in doorways watched in silence as plastic chairs floated slowly past.

Learning a musical instrument as an adult is different from learning as a child. Adults often progress quickly at first because they understand theory and can practise with discipline, but they also tend to be harder on themselves. They notice every wrong note and compare themselves to professionals. The adult learners who keep going are usually the ones who can enjoy sounding imperfect and who play for pleasure rather than for approval.

A well-made knife is one of the most useful tools a cook can own. A sharp blade cuts cleanly through vegetables instead of crushing them, which makes food look better and keep longer. It is also safer, because it needs less force and is less likely to slip. Many professional chefs use only two or three knives for almost everything and spend a few minutes sharpening them every week.

The archive smelled of dust and old paper. Researchers sat at long tables under green lamps, turning the pages of parish registers with cotton gloves. One woman had spent three weeks searching for a single baptism record from the seventeen hundreds. When she finally found it, written in a cramped and faded hand, she let out a small cry of triumph that made everyone in the room look up and smile.

Dolphins are highly social animals that live in groups called pods. They communicate using clicks, whistles and body movements, and some scientists believe each dolphin has a signature whistle that works much like a name. They hunt cooperatively, sometimes herding fish into tight balls or driving them onto mud banks. Young dolphins stay with their mothers for several years, learning the skills they will need to survive.

Trains and buses are often slower than cars for a single journey, but they offer something a car cannot: time that belongs to you. On a train you can read, work, sleep or simply look out of the window. Many commuters say the journey is the only quiet part of their day. Cities that invest in good public transport also tend to have cleaner air and less crowded roads.

Maths is often taught as a list of rules to memorise, which is why so many people decide early that they are bad at it. In fact, mathematics is closer to a language for describing patterns. Children who are encouraged to explore, to guess and to explain their reasoning often find it much more enjoyable than those who only practise procedures. Getting a wrong answer is part of the process, not a sign of failure.

The old man planted an oak tree on the day his first grandchild was born. Friends teased him, because he would never live to sit in its shade. He said that was not the point. Trees, he explained, are planted for people you will never meet. Fifty years later the oak is tall and broad, and on summer afternoons his great-grandchildren picnic beneath it without knowing his name.

The human heart beats around a hundred thousand times a day, pumping blood through a network of vessels that would stretch around the world more than twice if laid end to end. It never rests for more than a fraction of a second. Regular exercise strengthens the heart muscle so that each beat moves more blood, which is why trained athletes often have surprisingly slow resting heart rates.

Choosing a name for a new pet can be surprisingly difficult. Families argue for days over lists of possibilities, some serious and some absurd. In the end the name often comes from something the animal does in its first week: a kitten who steals socks, a puppy who sleeps in the laundry basket, a tortoise who escapes under the fence. The best names, it seems, are earned rather than chosen.

The night sky was once a calendar, a clock and a map. Farmers watched for certain stars to rise before dawn to know when to plant, and sailors steered by the stars across open ocean. Today most people live under skies so brightened by street lights that they can see only a handful of stars. Those who travel to truly dark places are often astonished by how many there are.

The flat above the laundrette was always warm and always smelled faintly of soap. The students who rented it complained about the noise of the machines in the afternoon, but in winter they were grateful for the heat that rose through the floor. They dried their own washing on a rack by the window and told visitors, with some pride, that they had the cleanest flat in the city.

Computers store everything as numbers. A photograph is a grid of tiny dots, each described by numbers for its red, green and blue light. A song is a long list of numbers measuring the shape of a sound wave thousands of times a second. Even the letters of this sentence are stored as numbers according to an agreed code. What makes computers powerful is not that they understand these things, but that they can shuffle numbers extremely quickly.

The tennis match had gone on for nearly four hours, and both players were exhausted. Points that had once been fierce rallies were now short and ragged, decided by whoever made the fewer mistakes. The crowd, sensing something special, cheered every point as if it were the last. When it finally ended, the winner sat on the court with her head in her hands, and the loser walked over to hug her.

Salt has been valued for as long as people have cooked. It preserves meat and fish, brings out flavour and is essential to the human body in small amounts. In some ancient societies soldiers and workers were partly paid in salt, and whole cities grew rich on trading it. Roads were built to carry it, and wars were fought to control the places where it could be dug from the ground or dried from the sea.

Nobody in the office could remember who had first brought the plant in. It stood in a corner near the photocopier, a tall rubber plant with glossy leaves, and somehow it survived holidays, heatwaves and a long period when everyone assumed someone else was watering it. When the company moved to a new building, there was a serious debate about whether the plant should come too. It did, in its own taxi.

Rainforests cover only a small part of the Earth's land, yet they are home to more than half of its plant and animal species. The trees grow in layers, from the tall giants that poke above the canopy to the shaded floor where little light reaches. Many rainforest plants have given us medicines, and countless species there have never been studied. Every year large areas are cleared for farming and timber.

Sport can teach lessons that are hard to learn any other way. Young players learn that effort does not guarantee success, that losing is survivable and that a team can achieve things no individual could. They learn to respect opponents and to follow rules even when the referee is not looking. Coaches often say the score matters much less than the kind of people their players become.

Music from another century can feel surprisingly personal. A song written hundreds of years ago about a lost love or a long winter can still move a listener today, because the feelings it describes have not changed. Performers sometimes use old instruments and old ways of playing to get closer to the original sound, while others bring old songs into the present with new arrangements. Both approaches keep the music alive.

The ferry crossed the strait twice a day, weather permitting. In summer it carried tourists with bicycles and rucksacks, and in winter mostly islanders returning from the mainland with boxes of shopping. The crossing took an hour. Regulars knew to sit on the left side on the way out for the best view of the cliffs, and on the right on the way back to watch the lights of the harbour come into view.

Antibiotics are medicines that kill bacteria or stop them from growing. Their discovery in the twentieth century saved millions of lives, turning once deadly infections into minor illnesses. But bacteria evolve, and when antibiotics are overused, the bacteria that survive can become resistant. Doctors now prescribe them more carefully, and patients are told to finish every course they start, so that no hardy survivors are left behind.

He had always wanted to learn to swim, but he had put it off for years out of embarrassment. At forty-five he finally signed up for lessons for adults. The first session was humbling. He clung to the side of the pool while the instructor, half his age, explained how to float. By the end of the summer he could swim a length without stopping, and he said it was the proudest moment of his life.

Elephants are known for their memory, and there is good evidence behind the reputation. Older females, who usually lead their herds, remember the locations of water sources across huge areas and can guide their families there during droughts. Herds led by older matriarchs tend to survive hard times better than those led by younger ones. Elephants also seem to recognise the bones of dead relatives, lingering over them and touching them gently with their trunks.

A small business lives or dies by its regular customers. Advertising may bring someone in once, but only good service brings them back. Owners of successful small shops often say the secret is remembering names, noticing preferences and solving problems without fuss. A customer who feels known will forgive a higher price or a missing item, and will tell their friends.

The printing press did not only spread books; it changed the way people thought about knowledge. When every copy of a text was copied by hand, errors crept in and no two versions were quite the same. Printing made it possible for scholars in different cities to read exactly the same page and to argue about it. Standard editions, indexes and page numbers all became possible, and learning became more cumulative.

At the edge of the village there was a pond that never quite froze, even in the coldest winters. Local legend said it was bottomless, and children dared each other to throw stones into the middle and listen for a splash that did not come. In reality it was fed by a warm spring, and it was about as deep as a man is tall. Nobody who grew up there ever quite believed that.

Vegetables taste best when they are in season. A tomato picked ripe in late summer has a sweetness and depth that a winter tomato, grown in a heated greenhouse and shipped across the world, cannot match. Eating with the seasons also tends to be cheaper, because local produce is plentiful when it is ready. Many cooks plan their meals around what looks best at the market rather than following a fixed list.

The marathon began in the grey light before dawn, thousands of runners packed together behind the start line, stamping their feet to keep warm. Some were elite athletes hoping to break records; most were ordinary people raising money for charity or simply testing themselves. By midday the finish area was full of foil blankets, hugs and tears. Everyone who crossed the line, in any time, had done something remarkable.

Trees communicate in ways scientists are only beginning to understand. Beneath the forest floor, their roots are linked by vast networks of fungi that carry water, nutrients and chemical signals between them. Older trees may send sugars to young seedlings growing in the shade, and a tree attacked by insects can release signals that prompt its neighbours to strengthen their defences. A forest, in this sense, behaves a little like a community.

Most people know the feeling of walking into a room and forgetting why they came. Researchers have found that passing through a doorway can act as a kind of mental boundary, causing the brain to file away what happened in the previous room. It is not a sign of failing memory but of the way memory is organised into episodes. Going back to where you started often brings the reason straight back.

The little bus wound up the mountain road in a series of tight bends, the driver sounding his horn before each one. Passengers clutched their bags and tried not to look at the drop beside the road. At the top the bus stopped in a tiny square with a fountain and a church, and everyone climbed out, blinking in the bright air. The driver lit a cigarette and sat down on the fountain's edge to wait.

A pension is simply money set aside now to live on later, but many young people find it hard to care about. Retirement feels impossibly distant, and there are always more urgent demands on a small salary. Yet the earliest contributions are the most powerful, because they have the longest time to grow. Even modest amounts saved in one's twenties can end up worth more than much larger sums saved in one's fifties.

The concert hall had been built with no flat surfaces facing each other, to prevent echoes. The ceiling was a series of angled wooden panels and the walls curved gently, so that a single violin at the front could be heard clearly from the back row. Architects and acoustic engineers had spent years on the design. The audience noticed none of this; they simply found that the music sounded wonderful.

Keeping chickens has become popular in towns as well as the countryside. A few hens need only a small coop, a patch of ground to scratch in and some daily care. In return they provide fresh eggs, eat kitchen scraps and are surprisingly entertaining to watch. They are also more individual than people expect, each with its own habits, friendships and opinions about where it should sleep.

Grief does not follow a timetable. People are sometimes told that it passes in stages, one after another, but for most it comes in waves, calm one day and overwhelming the next. A song, a smell or an empty chair can bring it back years later. Friends often worry about saying the wrong thing and so say nothing. Usually the most helpful thing is simply to be there and to mention the person who has gone.

Earthquakes happen when huge slabs of the Earth's crust, called plates, slide past or push against each other. Most of the time they are locked together by friction while pressure builds up. When the pressure becomes too great, the rock suddenly slips, releasing energy as waves that shake the ground. Scientists can say where large earthquakes are likely, but predicting exactly when one will strike remains beyond them.

The old cinema had red velvet seats, a painted ceiling and a balcony where couples had courted for three generations. When it closed, the town mourned as if for a person. A group of volunteers raised money to reopen it, repaired the projector, mended the seats and reopened with a screening of a classic film. On the first night there was a queue down the street, and many of the people in it were in tears.

A recipe is a set of instructions, but it is also a kind of story. It tells you where a dish comes from, what ingredients were available, what people had time for and what they considered a treat. Old recipe books reveal changing tastes: dishes once thought elegant now seem strange, and ingredients once rare are now everyday. Cooking an old recipe is a small way of visiting the past.

Swimming outdoors has a devoted following. In lakes, rivers and the sea, swimmers brave cold water all year round, claiming it improves their mood and makes them feel alive. Scientists are still studying the health benefits, but the risks are well understood: cold water can cause sudden gasping and weaken the muscles. Experienced swimmers go in gradually, never swim alone and know exactly how to get out.

The shop sold nothing but buttons. There were thousands of them, sorted by colour, size and material into tiny drawers that reached to the ceiling. Customers came from all over the country looking for a replacement for a lost button on a favourite coat. The owner could usually find a perfect match within minutes, and on the rare occasions she could not, she took it as a personal insult.

Cities at night are never truly dark or quiet. Street lamps and shop signs glow, delivery vans make their rounds and cleaners move through empty offices. Bakers start work while most people sleep, and nurses, drivers and security guards keep the place running. The night city has its own rhythm, and those who work in it often say they prefer it to the rush of the day.

The Moon is slowly moving away from the Earth, by a few centimetres each year. Long ago it was much closer, and it would have looked far larger in the sky. Its pull is also gradually slowing the Earth's spin, so that days are getting very slightly longer. The changes are far too small to notice in a lifetime, but over hundreds of millions of years they add up.

Nobody teaches you how to be a good neighbour, but most people learn. It involves small things: taking in a parcel, keeping the noise down late at night, returning a borrowed ladder promptly. It also involves noticing when something is wrong, such as curtains left closed for days or milk bottles piling up on a doorstep. In many streets it is these quiet acts of attention that make people feel safe.

Folk songs were passed down by ear long before anyone wrote them down. Each singer changed them a little, adding a verse, forgetting a line or shifting a melody to suit their voice. As a result, the same song might exist in dozens of versions across a country. Collectors who travelled with notebooks, and later with recording machines, preserved many songs that would otherwise have been lost.

Squirrels bury thousands of nuts each autumn and rely on memory and smell to find them again in winter. They do not find them all, and the forgotten nuts sometimes grow into new trees. In this way squirrels help to plant forests. Some species are even known to pretend to bury a nut when they think another animal is watching, then carry it off to hide somewhere else.

Decisions made when tired, hungry or angry are rarely our best ones. Many people have learned, often the hard way, to wait before replying to an upsetting message or making a large purchase. A night's sleep can change how a problem looks entirely. The simple rule of sleeping on it protects against regret, and it costs nothing but a little patience.

The island had no cars, only bicycles, handcarts and one small tractor that belonged to the council. Visitors arriving on the ferry were often surprised by how quiet it was. You could hear the wind in the grass, the sea on both shores and the bell of the church from anywhere on the island. Children rode their bikes everywhere and were trusted to come home when they were hungry.

Writing computer programs is mostly about breaking problems into smaller pieces. A task that seems impossibly complex, such as running a shop's website, becomes manageable when it is split into parts: showing products, taking orders, charging payments and sending emails. Each part can be split again until the pieces are simple enough to write and test. Good programmers are often those who are best at this kind of patient division.

Letters of complaint are more effective when they are calm. An angry letter may feel satisfying to write, but the person who reads it is likely to become defensive. A clear account of what happened, what you expected and what you would like done gives the reader a way to help. Companies receive many complaints, and the polite, specific ones are usually resolved first.

Cheese began as a way to preserve milk. Milk spoils quickly, but curdled, salted and pressed it can last for months or even years. Over centuries each region developed its own methods, shaped by local animals, grasses, climate and caves, and the result is the astonishing variety of cheeses found today. Some are eaten fresh within days, while others are aged for years until they are hard and crystalline.

The chess club met on Tuesday evenings in a room above the pub. Its members ranged from a ten-year-old prodigy to a retired judge of eighty-five who had played every week for sixty years. Games were played in near silence, broken only by the tap of pieces and the click of clocks. Afterwards, everyone went downstairs and argued cheerfully about moves that should have been made.

Wind turbines turn the energy of moving air into electricity. The blades are shaped like the wings of an aircraft, so that the wind creates lift and spins them around a central hub. A gearbox and generator inside the tower convert that spinning into electric current. The largest turbines stand taller than many office buildings, and a single one can supply power for thousands of homes.

Travelling slowly changes what a journey means. Flying across a continent in a few hours makes the distance almost invisible. Crossing it by train, bus or bicycle lets you see the landscape change, hear accents shift and notice when the bread in the shops becomes different. Slow travel takes more time and often more patience, but many who try it say they remember these journeys far more vividly.

The farmhouse stood at the end of a long track lined with hawthorn hedges. Its walls were thick stone, built to keep out the wind, and its windows were small and deep. The family had farmed the surrounding fields for five generations. In the kitchen hung a photograph of the original farmer and his wife, standing stiffly in their best clothes, looking as if they disapproved of everything that had happened since.

Measles is one of the most contagious diseases known. Before a vaccine was developed in the nineteen sixties, nearly every child caught it, and it caused many deaths and serious complications. Vaccination made it rare in many countries. Because it spreads so easily, however, outbreaks return quickly whenever the number of vaccinated people falls, which is why health services work hard to keep vaccination rates high.

Good manners vary from place to place, which can make travel confusing. In some countries it is polite to finish everything on your plate, while in others it suggests you were not given enough. Tipping is expected in some places and considered rude in others. Travellers who take a little time to learn local customs usually find that people respond warmly to the effort, even when they still get things wrong.

The bees had swarmed overnight, and by morning a great brown cluster hung from a branch of the apple tree. The beekeeper arrived in her veil and gloves carrying a cardboard box and a soft brush. With one firm shake of the branch most of the swarm dropped into the box. She closed it gently and waited. By evening the bees had settled, and she carried them home to a new hive.

Language changes all the time, though each generation tends to believe it is declining. Words shift meaning, new ones appear and old ones fade. Grammar rules that teachers once enforced strictly are quietly abandoned. Many words that annoy people today will sound perfectly normal to their grandchildren. Dictionaries do not decide how people should speak; they record how people actually do.

Running a marathon requires months of preparation. Beginners usually follow a plan that gradually increases the length of a weekly long run, while keeping most other runs short and easy. Rest days matter as much as training days, because the body grows stronger while it recovers. Many runners also practise eating and drinking during long runs, so that nothing on race day comes as a surprise.

The stall at the station sold only soup, but it had a queue every lunchtime. There were three kinds each day, written in chalk on a board that the owner changed every morning. Regulars had strong opinions about which days were best. On the coldest days of winter the queue stretched along the platform, and commuters who missed their trains did not seem to mind too much.

Most insects have a hard outer skeleton rather than bones inside their bodies. To grow, they must shed this shell and form a new, larger one, a process called moulting. Between the old shell coming off and the new one hardening, the insect is soft and vulnerable. Many hide away during this time. Caterpillars moult several times before finally transforming into butterflies or moths.

The pianist practised the same eight bars for an hour, slowly, then a little faster, then slowly again. To anyone listening outside the door it would have sounded tedious. To her it was a kind of meditation. Each repetition revealed something new: a note that could be softer, a pause that could be a fraction longer. By the evening the passage sounded effortless, which was, of course, the whole point of the effort.

Credit cards can be useful, but they make it easy to spend money you do not have. Because the bill arrives weeks later, the connection between buying something and paying for it feels weaker. Those who pay off the full balance every month can enjoy the convenience and protection without paying interest. Those who carry a balance often find that interest charges quietly double the cost of everyday purchases.

The castle had been a ruin for three hundred years. Ivy covered its walls, sheep grazed in the great hall and jackdaws nested in the towers. Visitors climbed the spiral staircase to the top of the keep, holding the rope rail, and looked out across the valley the castle had once controlled. A small sign explained its history, but most people preferred to imagine it for themselves.

Some of the most important discoveries in science happened by accident. Penicillin was noticed when mould contaminated a dish of bacteria, and the microwave oven followed an engineer noticing that a chocolate bar in his pocket had melted near a radar device. But accidents only become discoveries when someone is curious enough to ask why. Luck, as one famous scientist put it, favours the prepared mind.

He collected old maps of the town where he had grown up. Laid side by side, they told a story of slow change: fields becoming streets, a stream disappearing into a pipe, a railway arriving and then vanishing again. He liked to walk the modern streets with an old map in hand, looking for traces of the past, such as a curved wall that followed a field boundary or a pub named after a long-gone mill.

Cats were probably first drawn to human settlements by the mice that gathered around stores of grain. Farmers tolerated them, then welcomed them, and over thousands of years a loose partnership developed. Unlike dogs, cats were never really bred for work, and they retain much of their wild independence. Many owners would say that they do not own their cats so much as share a house with them.

Running a household involves a surprising amount of invisible work. Someone has to notice that the milk is running low, remember birthdays, book appointments and keep track of which bills are due. This planning rarely shows up in lists of chores, but it takes time and attention. Families who share it openly, rather than leaving it to one person, often find life runs more smoothly for everyone.

The valley flooded every spring, and the farmers had learned to live with it. They grew hay on the lowest fields, which could stand a few weeks underwater, and built their houses on the higher ground. The flood brought fresh silt that fertilised the soil. When engineers proposed a dam to stop the flooding, the farmers were divided, because they knew the river gave as much as it took.

A good walking boot should feel comfortable from the first day, but it still needs breaking in. Wearing new boots around the house and on short walks lets the leather soften and shape itself to your feet. Thick socks help prevent blisters, and so does stopping at the first sign of rubbing to cover the spot with a plaster. Blisters ignored in the morning can ruin the whole afternoon.

Every great city has a famous view that visitors queue to see, and a dozen better ones known only to residents. There is always a rooftop bar, a hill in a park or the top floor of a car park from which the skyline looks more beautiful and far less crowded. Finding these places takes time, curiosity and often a friendly local willing to share a secret.

Medicine used to rely heavily on observation and tradition. Doctors noticed which remedies seemed to help and passed that knowledge on, though many treatments did more harm than good. The modern idea of testing treatments fairly, by comparing groups of patients who receive different care, is surprisingly recent. Controlled trials have since revealed that some widely used treatments did not work, and found many that did.

The choir had thirty members and no auditions. Some could read music and some could not, and a few sang noticeably out of tune. The director believed that everyone could learn to sing and that singing together was good for the soul. By the end of each year the choir sounded better than anyone expected, and the concerts were always sold out to friends, family and neighbours.

Spiders are often feared, but most are harmless to people and very useful. They eat huge numbers of insects, including flies and mosquitoes, and they do so quietly in the corners of our homes. Their silk is one of the strongest natural materials known, stronger for its weight than steel. A spider can produce several kinds of silk, some sticky for catching prey and some dry for building the frame of a web.

The fishing village had changed beyond recognition in a single generation. The fleet had shrunk to three boats, and the old net lofts had become galleries and holiday flats. Yet on summer evenings the older residents still gathered on the bench by the slipway, as their fathers had done, to watch the boats come in and comment on the weather, the catch and the foolishness of the tourists.

Learning to say no is an important skill. People who agree to every request soon find their time swallowed by other people's priorities, and they may come to resent it. Saying no politely and clearly, without long excuses, is usually respected more than a reluctant yes. It also makes your yes more meaningful, because people know you mean it when you give it.

Olive trees can live for many hundreds of years, and some in the Mediterranean are thought to be well over a thousand years old. Their trunks become twisted and hollow with age, yet they continue to produce fruit. For thousands of years olives and their oil have been central to the diet, trade and religion of the region. Oil was used not only in cooking but for lamps, medicine and soap.

The game was tied with a minute to play when the youngest player on the team found herself with the ball and an open goal. She had dreamed of this moment since she was six. She hesitated for half a second, long enough for a defender to reach her, and the chance was gone. After the final whistle her captain found her and said only that there would be another chance. There was, the following week.

Scientists estimate that the universe is about fourteen billion years old. In its earliest moments it was unimaginably hot and dense, and as it expanded and cooled, the first atoms formed. Over hundreds of millions of years, gravity pulled gas together into stars and galaxies. The heavier elements that make up planets and people were forged inside stars and scattered when those stars exploded.

The garden had been neglected for years when they bought the house. Brambles covered the beds, the lawn was knee high and a fallen fence lay under a carpet of nettles. They spent the first summer simply clearing it, filling skip after skip. In the autumn they found, buried under the weeds, an old stone path and a sundial, and the garden began to reveal the shape someone had once given it.

Public libraries offer far more than books. Many provide free internet access, help with job applications, language classes, homework clubs and a warm place to sit for people with nowhere else to go. For some visitors, the library is the only public building where they can stay as long as they like without being expected to buy anything. Librarians often describe their work as helping people find what they need, whatever that turns out to be.

Mushrooms are the fruit of much larger organisms that live hidden underground. The main body of a fungus is a web of fine threads that spreads through soil or wood, breaking down dead material and recycling nutrients. Some of these networks are enormous; one in North America covers several square kilometres and may be thousands of years old. The mushrooms we see are only the parts that appear to release spores.

A well-written instruction manual is rare and precious. Most are either too brief to be useful or so long that nobody reads them. The best ones anticipate the reader's questions, use clear pictures and explain not only what to do but why. They are written by people who have watched real users struggle, and who have the humility to assume that confusion is the manual's fault rather than the reader's.

The drummer is often the least noticed member of a band, yet the whole group depends on them. A drummer who speeds up or slows down drags everyone with them, while a steady, confident beat lets the other musicians relax and play their best. Many bandleaders say that a good drummer matters more than any other player. Audiences may not notice, but they feel it in their feet.

The walk to school took twenty minutes, and it was the best part of the day. The children knew every crack in the pavement and every dog behind every gate. In autumn they collected conkers under the horse chestnut by the church, and in winter they slid on the frozen puddles by the bus shelter. Their parents worried about traffic and strangers, but the children only worried about being late.

Paying attention is harder than it used to be. Phones, notifications and endless feeds compete for our focus, and many people find they can no longer read a long book without reaching for a screen. Some have begun to take deliberate breaks, leaving their phones in another room or switching them off for part of the day. Those who try often report that the first hour feels strange and the second feels like relief.

The first aeroplanes were fragile machines of wood, wire and cloth. The Wright brothers' first powered flight in nineteen oh three lasted just twelve seconds and covered less distance than the wingspan of a modern airliner. Within a few decades, aircraft were crossing oceans, and within a lifetime people had walked on the Moon. Few technologies have advanced so far so quickly.

There are few sounds as satisfying as a kettle beginning to boil on a cold morning. The ritual of making tea or coffee gives the day a gentle start, a few minutes in which nothing is required except waiting. Some people take it very seriously, measuring water temperature and grinding beans by hand. Others simply want something warm to hold. Both, in their way, are right.

Frogs are remarkable for the changes they undergo. They begin as eggs laid in water, hatch into tadpoles with tails and gills and then slowly grow legs, absorb their tails and develop lungs. The whole transformation can take weeks or even years depending on the species. Because their skin absorbs water and air, frogs are very sensitive to pollution, and scientists use them as indicators of a healthy environment.

The recording studio was a converted church, and its high ceiling gave every instrument a warm, natural echo. Bands travelled from far away to record there. Between sessions musicians drank tea in the old vestry and played table tennis in what had once been the Sunday school. The owner claimed the building had a personality, and most of the people who worked there did not argue.

Investing means putting money into something in the hope that it will grow. Shares, property and bonds all carry different kinds of risk. Prices rise and fall, sometimes sharply, and anyone who needs their money back quickly may be forced to sell at a bad time. That is why advisers often suggest investing only money you will not need for several years and spreading it across many different things.

The tide had gone out further than anyone could remember, and the whole village walked out onto the sand to see what it had uncovered. There were ribs of old boats, tangled anchors and the stumps of a forest that had grown there thousands of years ago, when the sea was lower. Children ran between pools full of crabs. By evening the sea returned and covered it all again.

Stretching the truth is a habit that grows quietly. A small exaggeration to make a story more entertaining, a white lie to avoid an awkward conversation, a slight rounding of figures on a form. Each seems harmless. But people who notice these small untruths begin to wonder about larger ones. Trust is built slowly through many honest moments and can be lost in a single careless one.

Ballet looks effortless, which is exactly why it is so hard. Dancers train for years to make leaps, turns and balances appear light and natural. Behind the grace are strong muscles, careful technique and feet that are often bruised and blistered. Professional dancers take class every single day, even on performance days, repeating the same basic exercises they first learned as children.

The old railway line had been closed for decades, and nature had taken it back. Birch trees grew between the sleepers, and the embankments were thick with wild flowers and blackberries. Eventually the council turned it into a path for walkers and cyclists. Now it carries more people on a sunny Sunday than the trains ever did, and the old station has become a café.

Cooking with children is messy and slow, but it teaches more than recipes. Children who help make a meal learn to measure, follow steps, wait and clean up. They are also far more willing to try food they have cooked themselves. A simple loaf of bread or a tray of biscuits gives them something real to be proud of, and the kitchen becomes a place of shared work rather than a place where food appears.

Sharks have existed for more than four hundred million years, longer than trees. There are hundreds of species, from the small lantern shark that fits in a hand to the whale shark, the largest fish in the sea, which feeds gently on plankton. Despite their reputation, sharks rarely attack people. Humans are a far greater danger to sharks than sharks are to humans, with millions caught every year.

The meeting had been scheduled for thirty minutes and was now in its second hour. Nobody was quite sure what had been decided, and several people had quietly started answering emails under the table. Finally someone suggested writing down the three decisions they had actually made, and it turned out there were only two. Everyone agreed to meet again next week, which was perhaps the only thing they truly agreed on.

Fresh air and daylight do more for health than many people realise. Sunlight helps the body produce vitamin D and sets the internal clock that governs sleep. Time outdoors, especially among trees and water, is linked to lower stress and better mood. Even a short walk at lunchtime can make an afternoon in an office feel more manageable, and it costs nothing at all.

The wedding took place in a field under a borrowed marquee, and it rained all day. Guests arrived in wellington boots carrying their smart shoes in plastic bags. The band played with their feet in puddles, and the cake had to be rescued when a corner of the tent collapsed. Years later, the couple said they would not change a thing. Everybody who was there still talks about it.

Volunteering benefits the volunteer as much as anyone. People who give their time regularly often report feeling more connected to their community and more satisfied with their lives. They learn new skills, meet people they would never otherwise know and gain a sense of purpose. Organisations that rely on volunteers, from food banks to sports clubs, could not exist without them, and many of them are always looking for help.

The giant tortoises of the Galápagos Islands can live for well over a hundred years. Each island once had its own type, with shells shaped to suit the local plants. On islands with tall cactus, tortoises evolved shells that arched up at the front, allowing them to stretch their necks higher. These differences helped inspire ideas about how species change over time.

She kept a jar on the kitchen shelf for small coins. Whenever she came home with change in her pocket, it went into the jar. She never counted it. At the end of each year she took the jar to the bank and used whatever it held to pay for a day out with her grandchildren. It was never a fortune, but it was always enough for a train ride, lunch and ice cream.

Learning history is not just memorising dates. It is about understanding why people made the choices they did, given what they knew and believed at the time. It teaches us to weigh evidence, to notice bias and to see that many things we take for granted were once fiercely contested. Good history makes the past feel strange and familiar at once, and it makes the present easier to understand.

The mountain hut had twelve bunks, one stove and no electricity. Walkers arrived in the evening, soaked and tired, and hung their clothes to dry around the fire. Strangers shared food and stories late into the night by candlelight. In the morning everyone set off in different directions, and most never saw each other again. Yet for one evening they had been something close to a family.

Noise affects health in ways that are easy to overlook. Constant traffic or aircraft sound can disturb sleep even when people do not fully wake, and it is linked to higher stress and blood pressure. Cities are experimenting with quieter road surfaces, lower speed limits and more green space to absorb sound. Many people only realise how noisy their daily lives are when they spend a weekend somewhere truly quiet.

Jazz musicians often talk about conversation. In a small group, each player listens closely and responds to the others: a phrase from the saxophone might be answered by the piano, echoed by the bass and pushed forward by the drums. No two performances of the same tune are alike. The skill lies not only in playing well but in listening well, and in leaving space for others.

The first snow of the year fell overnight, and the school announced it would close for the day. Within an hour the hill behind the church was covered in children on sledges, trays and plastic bags. Parents stood at the bottom holding flasks of hot chocolate and shouting warnings that nobody heard. By the afternoon the snow had turned to slush, but nobody cared. It had been a perfect day.

A puppy needs a great deal of attention in its first few months. It must learn where to go to the toilet, what it may chew, how to walk on a lead and how to behave around people and other dogs. Short, frequent training sessions with plenty of praise work better than long ones. Most of all, a puppy needs patience, because it will forget everything at least once.

The price of something is not always its cost. A cheap pair of shoes that falls apart in a few months may cost more over time than an expensive pair that lasts for years. A long commute to save money on rent costs hours of life each week. Thinking about cost this way, in terms of time and durability as well as money, often leads to different and better choices.

The lake was so still in the early morning that the mountains seemed to stand upside down in it. Mist rose slowly from the water, and the only sound was the occasional splash of a fish. A single rowing boat drifted near the far shore, its fisherman motionless. Within an hour the wind would rise and the reflections would break into a thousand pieces, but for now everything held its breath.

Rubbish has a long afterlife. A plastic bottle thrown away today may take hundreds of years to break down, and even then it becomes tiny fragments that find their way into soil, rivers and the sea. Recycling helps, but reducing and reusing help more. Many towns have started repair cafés, refill shops and swap events, where people can fix, refill or pass on things instead of throwing them away.

The old sailor kept a small brass telescope on his windowsill, long after his last voyage. Each evening he would look out at the estuary and name the ships as they passed, their flags, their cargoes and where he guessed they were bound. His neighbours found it charming. His wife, who had waited for him through forty years at sea, found it slightly maddening, but she never said so.

Learning to fail well is one of the most valuable lessons anyone can learn. Failure is uncomfortable, and our first instinct is often to hide it or blame someone else. But failures that are examined honestly are full of information. Scientists, engineers and artists all depend on experiments that do not work. The people who improve fastest are usually those who are least afraid of getting it wrong.

Autumn is the busiest season in the orchard. The apples ripen in waves, early varieties first and the late keeping apples last, and each must be picked at the right moment. Pickers climb ladders with canvas bags slung across their chests, twisting each apple gently so the stalk stays on. Bruised fruit goes to the cider press, and the best apples are wrapped in paper and stored in a cool barn, where they will keep until spring.

Some people think best while walking. Philosophers, poets and scientists have described how a long walk loosened a problem that hours at a desk could not solve. The steady rhythm of the body seems to free the mind to wander, and ideas arrive sideways rather than head on. Many modern workers have rediscovered this, taking phone calls on foot or holding meetings while walking around a park.

The town's clock tower had been built to show the importance of the merchants who paid for it. Its four faces could be seen from every street in the centre, and its bell marked the hours for the markets, the schools and the factories. Now most people carry the exact time in their pockets, but they still arrange to meet under the clock, and the bell still rings on the hour.

Rabbits are crepuscular, which means they are most active at dawn and dusk. In the wild this helps them avoid many predators that hunt in full daylight or deep night. Pet rabbits keep the same rhythm, often sleeping through the middle of the day and becoming lively in the evening. They are intelligent and curious, can learn their names and are happiest with another rabbit for company.

A cold is caused by a virus, which is why antibiotics do nothing to help it. Most colds clear up on their own within a week or so. Rest, warm drinks and perhaps some honey for a sore throat make the time more bearable. Washing hands often and covering coughs and sneezes helps stop the virus from spreading to family, friends and colleagues.

The auction room was crowded but quiet, bidders sitting with numbered paddles on their knees. An old oak dresser came up, and the auctioneer started the bidding low. Two people in the front row began to compete, raising their paddles with tiny nods. The price climbed far beyond the estimate. When the hammer fell, the winner turned pink and the loser shrugged, and the auctioneer moved briskly on to a box of assorted teacups.

Typing quickly is a useful skill, but thinking clearly is more useful still. Many people write emails and reports as fast as they can, then spend far longer explaining what they meant. Taking a few minutes to decide the main point before writing, and putting it in the first sentence, saves time for everyone who reads it. Short, plain sentences are almost always easier to understand than long, clever ones.

The Great Barrier Reef stretches for more than two thousand kilometres along the coast of northeast Australia. It is made of billions of tiny animals called coral polyps, which build hard skeletons of limestone around themselves. Over thousands of years these skeletons have formed reefs that shelter an extraordinary variety of fish, turtles and other sea life. Rising sea temperatures now threaten the corals, which turn white and can die when the water stays too warm.

The family drove to the same beach every summer, in a car packed so full that the youngest child travelled with a bucket on her lap. The journey took six hours, including a stop at the same roadside café. They rented the same small house with the same creaky stairs. The children grew up and began arriving in their own cars, but the café, the house and the stairs all stayed exactly the same.

A sourdough starter is a living culture of wild yeasts and bacteria, kept in a jar and fed regularly with flour and water. Bakers sometimes keep the same starter going for decades and give portions of it to friends. Bread made with a starter rises more slowly than bread made with packaged yeast, but it has a deeper flavour and a pleasant tang. It also keeps fresh a little longer.

Most of the water on Earth is salty and lies in the oceans. Only a small part is fresh, and much of that is locked in ice caps, glaciers and deep underground. The fresh water that people can easily use, in rivers, lakes and shallow aquifers, is a tiny fraction of the total. That is why water is carefully managed in many dry regions and why wasting it can have serious consequences.

The old cricket pavilion smelled of linseed oil, cut grass and tea. On the walls hung team photographs going back a century, rows of young men with folded arms and serious moustaches. Every summer Saturday the club played a match that lasted all afternoon, with a long break for sandwiches and cake prepared by volunteers. The result seemed to matter less than the tea.

Bananas as we know them are a relatively recent creation. Wild bananas are full of hard seeds and are not pleasant to eat. The seedless fruit found in shops comes from plants that are propagated by cuttings, so that many of them are genetically almost identical. This makes them vulnerable, because a disease that attacks one plant can attack them all. Scientists are working to develop new varieties that resist these diseases.

An apology works best when it is simple. Saying sorry, naming what you did and explaining how you will put it right is usually enough. Long explanations of why it was not really your fault tend to undo the apology. So does adding the word but. People are often surprised how much a sincere apology can repair, even after a serious mistake.

The night bus was nearly empty. A nurse coming off a late shift dozed against the window, a young man in a suit talked quietly on his phone and two friends shared a bag of chips in the back seat. The driver hummed along to a radio no one else could hear. At each stop the doors hissed open onto silent streets, and the bus rolled on through the sleeping city.

Lightning is a giant spark of electricity that jumps within a cloud, between clouds or between a cloud and the ground. It heats the air around it to temperatures hotter than the surface of the Sun, making the air expand so quickly that it creates the boom we hear as thunder. Because light travels faster than sound, you can estimate how far away a storm is by counting the seconds between the flash and the thunder.

Picking up a new hobby in middle age can feel awkward. Beginners' classes are often full of people half your age, and the first attempts at anything are clumsy. But adult beginners have advantages too: they tend to practise more deliberately, ask better questions and care less about looking impressive. Many people find that a hobby started later in life becomes one of their greatest pleasures.

The desert at night is nothing like the desert at noon. The heat drains quickly from the sand once the sun sets, and the temperature can fall close to freezing. Animals that hid from the sun all day emerge to hunt and forage: foxes with huge ears, beetles, snakes and jumping rodents. Above, the sky is so clear and dark that the stars seem close enough to touch.

The postman had delivered letters on the same route for thirty years and knew more about the street than anyone. He knew which dogs to avoid, which houses had elderly residents who liked a chat and which gate stuck in wet weather. When he retired, the residents threw him a party in the street, and an old lady who rarely left her house came out to give him a cake she had baked herself.

Helping someone learn to ride a bicycle is an exercise in letting go. You run beside them holding the saddle, promising not to let go, and at some point you do. For a few seconds they ride alone without realising it. Then they notice, wobble and often fall. But they have felt it, and soon afterwards they are away down the path, and you are left standing, out of breath and proud.

Recycling paper saves trees, water and energy, but paper cannot be recycled forever. Each time it is processed, the fibres become shorter and weaker, and after a handful of cycles they are too short to hold together. New fibres must then be added. This is why reducing how much paper we use in the first place, and reusing what we can, matters as much as recycling.

The hospital garden was small, tucked between two wings of the building, but it was the most peaceful place for miles. Patients in wheelchairs were brought out to sit in the sun, visitors ate sandwiches on the benches and nurses took five minutes there between long shifts. A volunteer gardener came twice a week to tend the roses. She said it was the most important job she had ever had.

Crows are among the most intelligent birds. They can use and even make simple tools, bending wire into hooks to pull food from narrow places. They recognise individual human faces and remember people who have treated them badly, sometimes scolding them for years. Some studies suggest crows can plan ahead, saving a tool for a task they expect to face later.

Many people dread public speaking more than almost anything else. The heart races, the mouth dries and the mind seems to go blank. Preparation helps: knowing the material well, practising aloud and arriving early to see the room. It also helps to remember that audiences are rarely hostile. Most people listening simply want to learn something and are quietly glad it is not them standing at the front.

The shipwreck lay in thirty metres of water, off a rocky point where the current was strong. Divers visited it on calm days, gliding along the rusting hull, now covered in sponges and anemones. Shoals of fish moved in and out of the portholes. The ship had sunk in a storm a century earlier, and a small memorial on the headland listed the names of the crew who had not come home.

Tea is the most widely drunk beverage in the world after water. All true tea comes from a single plant, a kind of camellia, and the difference between green, black and oolong tea lies in how the leaves are processed after picking. Green tea leaves are heated quickly to stop them changing, while black tea leaves are allowed to oxidise and darken. Herbal teas are not really tea at all.

A good night's sleep begins in the morning. Getting outside in daylight soon after waking helps to set the body clock, making it easier to feel sleepy at the right time in the evening. Exercise during the day helps too, as long as it is not too close to bedtime. Caffeine lingers in the body for many hours, so an afternoon coffee may still be working when you try to sleep.

The mill had ground corn for the village for four hundred years, powered by the stream that ran beside it. When it finally stopped working, the great wooden wheel rotted and the machinery rusted. A local trust restored it over a decade of weekends, and now it grinds flour again on open days. Children watch in fascination as the stones turn and the flour pours out, warm and fragrant, into sacks.

Everyone loses things, but some people lose things far more than others. The solution is often simple: a fixed place for keys, glasses and wallet, used every single time. The hard part is the habit, not the system. Those who stick to it for a few weeks often find that the frantic morning search becomes a thing of the past, and that they have far more patience left for the rest of the day.

The violinist had been blind since birth and learned every piece by ear. She described music as a landscape she could walk through, with hills, valleys and rivers of sound. Sighted musicians who played with her said she listened more closely than anyone they had met. She noticed the smallest change in a colleague's breathing before an entrance and timed her own playing to match.

Football is played and watched by more people than any other sport in the world. Its appeal lies partly in its simplicity: all you need is a ball and something to mark the goals. Children play it in streets, fields and school yards on every continent. At the highest level it is a huge business, but the game that millions play every weekend is the same one, with the same rules and the same joy.

Paying bills on time seems like a small thing, but it has large effects. Late payments often bring fees, and a history of them can make it harder or more expensive to borrow later. Setting up automatic payments for regular bills removes the risk of forgetting. Keeping a small buffer in the account makes sure those payments never fail, even in a month when money is tight.

Hedgehogs roam surprisingly far at night, travelling a mile or more in search of beetles, worms and slugs. Gardens can be a lifeline for them, but fences and walls often block their way. Some neighbours cut small holes at the bottom of their fences to create hedgehog highways, allowing the animals to pass freely from garden to garden. It is a small act that can make a real difference to a declining species.

The archaeologists had been digging for three weeks and found little more than broken pottery and animal bones. Then, on the last afternoon, a student scraping at the bottom of a trench uncovered the corner of a mosaic floor. Everyone crowded round. Over the next hour they exposed a small section showing the head of a dolphin, its colours still bright after nearly two thousand years underground.

Cooking rice well is a skill that many good cooks never quite master. Too much water and it turns to mush; too little and it burns. Different kinds of rice need different treatment, and cooks around the world swear by their own methods. Many say the secret is to leave the lid on and resist the temptation to stir, and to let the rice rest for a few minutes before serving.

The city's oldest market hall had a glass roof supported by elegant iron columns, built in the great age of railways. For years it had been half empty and neglected. Then a group of young traders rented stalls selling street food from around the world, and within months it was the busiest place in town. On Friday evenings it was hard to find a seat, and the old iron columns were strung with lights.

Mathematics and music have much in common. Both are built on patterns, ratios and repetition, and both reward careful practice. The ancient Greeks noticed that pleasing musical intervals correspond to simple ratios of string lengths. Many mathematicians are keen musicians, and some composers have used mathematical structures to build their pieces. Both fields, at their best, combine strict rules with surprising freedom.

The kindergarten's garden was full of things to discover: a mud kitchen, a tunnel of willow, a patch of long grass where insects could be hunted with magnifying glasses. The teachers believed children learned best outdoors, in all weathers, and so the children had waterproof suits and boots for every day of the year. Parents soon learned to expect mud, and to bring spare clothes.

Rust forms when iron reacts with oxygen and water. It flakes away, exposing fresh metal underneath, so that rust can eventually eat right through a piece of iron or steel. That is why bridges and ships are painted and repainted, and why stainless steel contains other metals that form a protective layer. Aluminium also reacts with air, but its coating is tough and stays put, protecting the metal beneath.

The two brothers had not spoken for years after a quarrel over their father's will. Neither could remember exactly how it had started. When one of them fell ill, the other drove through the night to the hospital and sat beside his bed. They talked about football, the weather and their childhood, and never once mentioned the will. Their wives, watching from the corridor, cried quietly with relief.

Deserts cover about a third of the Earth's land surface, but not all deserts are hot. Antarctica is technically the largest desert in the world, because it receives so little snow or rain. What defines a desert is dryness, not heat. Plants and animals in deserts have developed clever ways to survive, from cacti that store water in their stems to beetles that collect droplets of fog on their backs.

Learning a language in the country where it is spoken is very different from learning it in a classroom. At first every conversation is exhausting, and simple tasks such as buying a train ticket feel like exams. But the brain adapts with surprising speed. After a few weeks, learners often notice that they have begun to understand overheard conversations, and even to dream in the new language.

The repair shop was crammed from floor to ceiling with radios, clocks, toasters and lamps, each with a paper tag tied to it. The owner worked at a bench under a bright lamp, a magnifying glass on his forehead. He could fix almost anything, and when he could not, he would explain exactly why in terms his customers could understand. He charged very little, and people trusted him completely.

Gorillas live in family groups led by a mature male called a silverback, named for the grey hair that grows across his back. Despite their size and strength, gorillas are mostly gentle, spending their days eating leaves, stems and fruit. They build fresh nests to sleep in every night. Scientists who have spent years with them describe each gorilla as having a distinct personality.

Saving for something specific is often easier than saving in general. A holiday, a new bicycle or a deposit on a flat gives each small sacrifice a purpose. Some people open a separate account for each goal and give it a name, so that the money is not quietly spent on other things. Watching the balance grow toward a target can be surprisingly motivating.

The choir rehearsed in a cold church hall with a piano that was always slightly out of tune. Members arrived in coats and scarves and sang the first half hour without taking them off. As the evening went on and the voices warmed, the hall seemed warmer too. By the final run through of the evening, coats were off, the piano's faults were forgotten and the music filled the room.

A first aid course is one of the most useful ways to spend a day. Participants learn how to check whether someone is breathing, how to place an unconscious person on their side and how to give chest compressions. They practise on dummies until the movements feel natural. Most people never need to use these skills, but those who do are very glad they learned them.

The tram line ran down the middle of the main street, and the trams rattled past every few minutes, bells ringing. Cyclists learned to cross the rails at an angle to avoid catching a wheel. Visitors found the trams charming; residents found them simply useful. In the evening the lit carriages gliding along the dark street looked like small moving rooms, each full of people going home.

The first telescope to look at the night sky revealed a universe nobody had imagined. Galileo saw mountains on the Moon, moons circling Jupiter and countless stars in the pale band of the Milky Way. Each discovery challenged the belief that the heavens were perfect and unchanging, and that everything circled the Earth. His observations helped to change not only astronomy but the way people thought about evidence.

Making a bed each morning takes less than two minutes, and some people swear it improves their whole day. It is a small task that can be completed perfectly, and it makes a room look tidier at once. Coming home to a made bed in the evening feels welcoming. Others think it is a waste of time and prefer to let the bedding air. Both sides hold their views with surprising passion.

The herd of cows moved slowly along the lane toward the milking shed, as they did twice every day. They knew the way without being driven, and the farmer's dog walked behind them more out of habit than necessity. Drivers coming the other way stopped and waited with varying degrees of patience. The cows ignored them entirely, taking their time as though the lane belonged to them.

People have always told stories about the stars. Different cultures looked at the same sky and saw hunters, bears, canoes, scorpions and giant birds. These patterns helped people remember the positions of the stars and use them to navigate and keep track of the seasons. Today astronomers still use constellations as a way of dividing up the sky, even though the stars in each pattern may be vastly different distances away.

Good coaches know when to speak and when to stay quiet. In the heat of a match, a player making a mistake rarely needs shouting at; they already know. What they need is a simple, calm instruction and the confidence to try again. The best coaches build that confidence over months of training, so that in the moments that matter, players can think clearly.

A compost heap turns kitchen scraps and garden waste into rich, dark soil. Bacteria, fungi, worms and insects break down the material, and the heap can become surprisingly warm in the middle as they work. A good heap needs a mix of green material, such as vegetable peelings and grass cuttings, and brown material, such as dry leaves and cardboard. Turning it now and then lets in air and speeds things up.

The actress had played the same role in a long-running show for six years, eight performances a week. People asked how she could bear the repetition. She said that no two nights were ever the same, because the audience was always different. A laugh that came one night might not come the next, and she found herself playing each scene slightly differently in response. The play stayed alive because she kept listening.

Vaccines have prevented more deaths than almost any other medical invention. Smallpox, which once killed millions of people every century, was completely wiped out through a worldwide vaccination campaign, with the last natural case recorded in the late nineteen seventies. Polio is close to being eradicated too. These successes depended not only on science but on huge numbers of health workers reaching remote communities.

Opening a small café is a dream for many people, and a difficult business in practice. Rent, wages and ingredients must all be paid before a single cup is sold, and the margins on coffee are narrower than most imagine. Successful owners often say the food matters less than the feeling of the place. A café where people feel welcome and unhurried will be busy, even if the coffee is only good rather than excellent.

The kite rose quickly at first, then stalled and dived toward the grass. The boy ran backwards, tugging at the string, and it climbed again, higher this time, until it hung steady against the clouds. His father stood beside him giving advice that he ignored. For the next hour neither of them said much, both simply watching the small red diamond dancing far above the hill.

Dogs have lived alongside people for at least fifteen thousand years, and possibly much longer. They probably descended from wolves that scavenged near human camps and gradually became tamer. Over thousands of years people bred them for different tasks: herding, guarding, hunting and pulling sledges. Today there are hundreds of breeds, from tiny lapdogs to giant mastiffs, all belonging to the same species.

Spending a little time planning a week of meals saves money, time and stress. It means one shopping trip instead of several, less food thrown away and fewer evenings spent staring into the fridge wondering what to cook. A plan does not need to be strict. Even a rough list of five or six dinners, with ingredients that overlap, makes a noticeable difference.

The bell ringers climbed the narrow stairs of the tower every Thursday evening to practise. Each held a rope attached to a huge bell high above their heads, and together they rang patterns called methods, changing the order of the bells with every pull. It took years to master. The sound carried across the rooftops of the town, and many people who heard it felt that the week was somehow in order.

Plastic was once seen as a miracle material: light, strong, cheap and endlessly adaptable. It transformed packaging, medicine, clothing and countless everyday objects. But the same durability that makes it useful makes it a problem when it is thrown away. Scientists are working on plastics that break down safely, while many countries have begun to limit single-use items such as bags and straws.

The tree house had been built by three generations of the same family, each adding something new. There was a rope ladder, a trapdoor, a pulley for hauling up buckets and a small balcony facing the sunset. Every few years someone replaced a rotten plank or strengthened a branch. The youngest children in the family now climbed up to the same platform where their grandparents had once hidden from chores.

The village school had only two classrooms, one for the younger children and one for the older ones. The teachers knew every family and every pet, and the children knew every corner of the building. Each year at the summer fair the whole village came to watch the sports day, where the sack race was taken more seriously than any exam. When the school was threatened with closure, the village fought hard to keep it open, and won.

Sleeping well on long journeys is a skill that frequent travellers slowly acquire. A good neck pillow, earplugs and an eye mask can make an aeroplane seat or a night bus much more bearable. So can a loose layer of clothing, because temperatures on transport are unpredictable. Experienced travellers also know to drink plenty of water and to avoid heavy meals and too much coffee before trying to sleep.

Bamboo is one of the fastest growing plants in the world. Some species can grow almost a metre in a single day. Despite looking like a tree, it is actually a kind of grass. Its strong, light, hollow stems have been used for thousands of years to build houses, bridges, scaffolding and furniture, and its young shoots are a popular food in many parts of Asia.

The queue at the post office moved slowly, as it always did before the holidays. People held parcels of every shape, some neatly wrapped and some tied up with string and hope. An elderly man at the front was sending a box to his grandson on the other side of the world, and he asked the clerk three times whether it would arrive in time. She promised it would, and everyone in the queue hoped she was right.

Money can buy comfort, security and many experiences, but research suggests that beyond a certain level, extra income brings only small gains in happiness. How people spend money seems to matter more than how much they have. Spending on experiences, on time with friends and on helping others tends to bring more lasting satisfaction than spending on possessions, which people quickly get used to.

Marathon swimmers cross channels, lakes and straits that can take many hours to swim. They train by gradually increasing the time they spend in cold water and practise feeding from a boat without stopping. Rules for official crossings are strict: no wetsuit, only a cap, goggles and a standard swimsuit. Many swimmers say the hardest part is not the cold or the distance but the long hours alone with their own thoughts.

When the power went out across the town one winter evening, people discovered how much they relied on it. Heating, cookers, lights, phones and televisions all stopped at once. Neighbours who had never spoken knocked on doors to check on each other, and someone with a gas stove made tea for the whole street. When the lights came back on after four hours, a few people were almost disappointed.

The piano was invented in Italy around the year seventeen hundred. Earlier keyboard instruments, such as the harpsichord, plucked their strings and could not play louder or softer depending on the player's touch. The new instrument struck its strings with small hammers, so a gentle press produced a quiet note and a firm one a loud note. That ability gave it its original name, which meant soft and loud.

Kindness is often contagious. Studies have found that people who witness or receive a kind act are more likely to do something kind themselves, and that the effect can spread through groups. A stranger holding a door, a colleague offering help or a neighbour bringing soup when someone is ill can set off a small chain of good deeds. The original act may be forgotten, but its effects travel on.

Camels are superbly adapted to life in the desert. Their humps store fat, not water, which they can draw on when food is scarce. They can go for long periods without drinking and then drink a huge amount very quickly. Their thick eyelashes and closable nostrils keep out blowing sand, and their wide feet stop them sinking into dunes. For thousands of years they carried goods across deserts that no other animal could cross.

The writer worked every morning from six until noon, without exception. She did not wait for inspiration; she said it arrived more reliably once she was already at her desk. Some days she wrote a thousand words and some days only a paragraph, which she often deleted the next morning. Over twenty years this steady routine produced fifteen novels, several of which are still widely read.

Stepping onto a bathroom scale every day can be misleading. Body weight naturally goes up and down by a kilogram or more from day to day, depending on food, drink and salt. People trying to change their weight often feel discouraged by these swings. Weighing once a week, or looking at an average over several days, gives a clearer picture of the real trend.

There is an art to packing a suitcase. Heavy items go at the bottom near the wheels, shoes go in bags along the edges and small things fill the gaps inside shoes and between folded clothes. Rolling soft clothes saves space and reduces creases. Experienced travellers also leave a little room, knowing that suitcases always seem to shrink on the way home.

Tigers are the largest of the big cats, and each tiger's stripes are unique, like human fingerprints. Unlike most cats, they enjoy water and are strong swimmers. They usually live and hunt alone, patrolling large territories that they mark with scent. Wild tigers are endangered, but careful protection has allowed their numbers to rise again in some countries in recent years.

The old man fed the pigeons in the square every morning at nine. The birds knew him and began gathering on the benches a few minutes early, watching the corner he came from. Some of the shopkeepers thought he encouraged a nuisance, while others set their clocks by him. When he stopped coming one winter, the pigeons gathered at nine for weeks, waiting, and several of the shopkeepers found they missed him too.

Writing a good summary is harder than it looks. It means deciding what truly matters and leaving out everything else, including details that are interesting but not essential. Many people find it helpful to imagine explaining the main idea to a friend in two sentences. If that is impossible, it may be a sign that they do not yet understand the material as well as they thought.

Some birds are astonishing mimics. Parrots can learn dozens of human words, and the lyrebird of Australia can imitate other birds, camera shutters, car alarms and even chainsaws with startling accuracy. Scientists believe mimicry helps some birds attract mates or defend territory, while in parrots it may help them fit in with their flock, which in captivity happens to be a human family.

The small theatre above the pub held only forty seats, and the actors could see every face in the audience. Many famous performers had started their careers there, playing to half-empty rooms on wet Tuesday nights. The bar downstairs displayed signed photographs of those who had gone on to fame. The owner said that he was prouder of the ones who kept coming back to perform for almost nothing.

Interest rates affect almost everyone, even those who never borrow. When rates rise, loans and mortgages become more expensive, so people and businesses tend to spend less. Savers, on the other hand, earn a little more. When rates fall, the opposite happens. Central banks adjust rates to try to keep prices stable and the economy growing steadily, though getting the balance right is difficult.

The hikers reached the pass just as the clouds lifted, and the whole range opened out before them. Snowfields gleamed on the far peaks, and a long green valley wound away below them toward a distant lake. Nobody spoke for a while. They ate their sandwiches sitting on rocks warmed by the sun, and then, reluctantly, they began the long descent before the afternoon weather turned.
"""

PARAGRAPHS: tuple[str, ...] = tuple(" ".join(paragraph.split()) for paragraph in _TEXT.split("\n\n") if paragraph.strip())
