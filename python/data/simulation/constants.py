"""Physical and detector constants of the simulator, each with its source.

Units: metres, nanoseconds, GeV, photoelectrons (PE).
"""

from __future__ import annotations

#: speed of light in vacuum, m/ns
C_VACUUM = 0.299792458
#: phase and group refractive index of South Pole ice at ~400 nm
#: (Price & Bergström, Appl. Opt. 36 (1997) 4181; IceCube, NIM A 711 (2013) 73)
N_PHASE = 1.3195
N_GROUP = 1.3570
#: light speed in ice (group velocity), m/ns
C_ICE = C_VACUUM / N_GROUP

#: muon energy loss dE/dx = a + b E in ice (density 0.917 g/cm^3), from a = 0.259 GeV/mwe,
#: b = 0.363e-3 /mwe (Chirkin & Rhode, hep-ph/0407075, ice)
MUON_LOSS_A = 0.259 * 0.917  # GeV/m
MUON_LOSS_B = 0.363e-3 * 0.917  # 1/m

#: Pandel time-residual distribution, published ice parameters
#: (van Eijndhoven, Fadiran, Japaridze, Astropart. Phys. 28 (2007) 456, Table 1 / eq. 4):
#: delay ~ Gamma(shape = d / PANDEL_LAMBDA, rate = 1/PANDEL_TAU + C_ICE/PANDEL_LAMBDA_A)
PANDEL_TAU = 557.0  # ns
PANDEL_LAMBDA = 33.3  # m
PANDEL_LAMBDA_A = 98.0  # m, absorption length

#: expected PE at 1 m perpendicular distance per unit (dE/dx / a), i.e. for a minimum-ionising
#: muon: ~250 Cherenkov photons/cm in 300-500 nm spread over a cylinder of radius rho and a DOM
#: effective area ~1e-2 m^2 (IceCube, JINST 12 (2017) P03012) give ~40 PE m; 50 here, tuned so
#: that the realism targets of resources/docs/simulation.md hold.
LIGHT_YIELD_PE_M = 50.0
#: effective attenuation length of the expected PE with photon path length, m
#: (between the effective scattering length ~25 m and absorption ~100 m of the bulk ice,
#: IceCube, NIM A 711 (2013) 73)
ATTENUATION_LENGTH = 35.0
#: perpendicular distance below which the 1/rho fall-off is capped (DOM radius scale), m
MIN_PERPENDICULAR_DISTANCE = 2.0
#: along-track smearing of the light window of a segment end: width = a + b * rho (m);
#: a phenomenological stand-in for scattering
WINDOW_WIDTH_A = 5.0
WINDOW_WIDTH_B = 0.5

#: relative quantum efficiency of DeepCore high-QE DOMs (IceCube, Astropart. Phys. 35 (2012) 615)
HQE_EFFICIENCY = 1.35
#: PMT transit-time spread, ns RMS (IceCube, NIM A 618 (2010) 139)
PMT_JITTER_NS = 2.0
#: single-PE charge spread: log-normal with mean 1 PE and this log-sigma (approximates the
#: measured SPE charge distribution's width, IceCube, JINST 15 (2020) P06032)
SPE_LOG_SIGMA = 0.3
#: photons of one DOM arriving within this many ns of the pulse's first photon merge into one
#: pulse (the time resolution of the waveform unfolding)
PULSE_MERGE_NS = 5.0
#: readout window relative to the time the muon passes closest to the detector centre, ns
#: (the in-ice split window is -4 us ... +6 us around the trigger)
READOUT_START_NS = -4000.0
READOUT_END_NS = 6000.0
#: time at which the muon passes closest to the detector centre, ns (a trigger-like offset)
T_CLOSEST_APPROACH_NS = 10000.0

#: generation cylinder: the instrumented volume's radius and height plus this margin, m
GENERATION_MARGIN = 200.0

#: angular profile of the Cherenkov light of electromagnetic cascades around their axis,
#: ``a exp(b |cos theta - 1/n|^c) + d`` (Rädel & Wiebusch, Astropart. Phys. 38 (2012) 53,
#: electrons)
CASCADE_ANGULAR = (4.27033, -6.02527, 0.29887, -0.00103)
#: dark rate of high-QE (DeepCore) DOMs relative to standard ones: ~780 Hz vs ~560 Hz
#: (IceCube, JINST 12 (2017) P03012)
HQE_NOISE_SCALE = 780.0 / 560.0
#: a DOM sees direct light when a photon arrives within this many ns of its direct time
#: (the time-residual window of "direct hits", AMANDA, NIM A 524 (2004) 169)
DIRECT_LIGHT_NS = 75.0
#: cascades and tracks farther than this from a DOM add no light to it, m
MAX_LIGHT_DISTANCE = 250.0
